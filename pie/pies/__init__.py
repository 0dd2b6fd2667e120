"""PIEs: modal labels of model populations and the examples on which pruning changes them.

Pure functions on arrays; no Lightning, Hydra or file access here.
"""

from pie.pies.modal import TIE_RULES, modal_labels, vote_counts
from pie.pies.multi_label import MultiLabelPieResult, multi_label_pie_table, multi_label_pies
from pie.pies.single_label import PieResult, single_label_pies, single_label_pie_table

__all__ = [
    "TIE_RULES",
    "MultiLabelPieResult",
    "PieResult",
    "modal_labels",
    "multi_label_pie_table",
    "multi_label_pies",
    "single_label_pie_table",
    "single_label_pies",
    "vote_counts",
]
