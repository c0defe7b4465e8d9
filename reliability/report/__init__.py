"""The monthly HTML report: sections, figures and tables for the notebooks, and rendering."""
