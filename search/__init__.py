"""semsearch core library: settings, text normalisation, encoder, bands, index, store."""
