"""Networks (BERT via transformers, the paper's BiLSTM), their tokenizers, and the
LightningModule that trains any of them as a classifier."""
