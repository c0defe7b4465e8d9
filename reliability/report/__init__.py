"""The monthly HTML report: data for the notebooks, their sections and figures, rendering.

nbformat (which plotly's renderers and papermill import) imports jsonschema, which imports
``rfc3987_syntax`` when it is installed (jupyter-events pulls it in) to check the "iri"
string format; building that grammar takes 0.7 s, longer than importing pandas and plotly
together. Nothing in a report validates IRIs, so the report does without that checker.
"""

import sys

sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
