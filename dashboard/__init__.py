"""The dashboard's Streamlit helpers, imported by app.py and the pages in pages/: `shared` (session state, the
current audit, running an audit, errors and background jobs), `access` (the sign-in gate) and `<page>_results`
(each page's cached results). They live outside pages/ so that Streamlit never lists them as pages."""
