"""Loaders for the public evaluation sets (ViLReF §IV-A), reading their published layouts from
`--data-root`. Each module registers one dataset and documents its layout in its data card;
docs/data-cards.md summarises them."""
