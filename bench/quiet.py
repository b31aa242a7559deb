"""The product without its access line and metrics: what ships, less the observers that the
web edge calls once each request is answered (app/http.py's ``Edge``). Measured beside the
product in the same rounds, it shows what the access line and the metrics cost a request.

    gunicorn -c gunicorn.conf.py bench.quiet:app
"""

from wsgi import app

app.extensions["edge"].observers.clear()
