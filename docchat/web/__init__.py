"""The web app: one HTML page, plain ES modules and CSS, served by the API's own FastAPI app."""
