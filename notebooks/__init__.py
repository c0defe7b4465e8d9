"""The report notebooks, shipped inside the package as ``reliability.notebooks``.

``reliability report`` renders ``monthly_report.ipynb`` and ``service_report.ipynb`` from here,
also from an installed wheel; open them (and ``explore.ipynb``) in Jupyter to explore.
"""
