"""One module per screen; heavy screens are imported when first opened."""
