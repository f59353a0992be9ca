"""HTTP as policy, with no I/O: URLs, headers, credentials, cookies, proxies, redirects, TLS trust.

    urls      normalise (IDNA, UTF-8 escapes), split credentials off, redact for output
    auth      credentials from the URL, --user and netrc; Basic headers
    cookies   the run's cookie jar (http.cookiejar), --load-cookies
    proxies   which proxy a URL goes through (--proxy, --no-proxy, the *_proxy variables)
    tls       one SSLContext for the run (--ca-certificate, --insecure, client certificates)
    policy    HttpPolicy: the headers and proxy of each request, and where a redirect may lead

The Item asks the policy for each request; the transports only move the bytes it decides on.
Nothing is imported here: start-up time is part of every short download, and http.cookiejar (with
urllib.request behind it) or ssl are loaded only by a run that meets a cookie or an https URL.
"""
