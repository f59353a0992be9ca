"""tulip fetch: a bulk downloader with three engines that give the same Report.

The public names are re-exported by ``tulip`` (``aiotulip.fetch``, ``aiotulip.FetchOptions``, ...); the
modules here are importable by their dotted paths for tests and for the curious:

    options    FetchOptions: every setting, checked once; the engine and transport names
    sources    URLs, input files and manifests -> Entries -> named Jobs (names.py makes names safe)
    api        fetch / fetch_async: options + sources -> Work -> an engine -> Report
    item       one download as a state machine with no I/O (plan.py and retry.py: its pure rules)
    engines/   how to wait: sequential, threads, asyncio; _disk.py carries out the disk steps
    http/        the HTTP policy: URLs, credentials, cookies, proxies, redirects, TLS (no I/O)
    transports/  how bytes move: libcurl (curl, every engine's default); the wire reader under lean
                 (asyncio) and blocking; mock
    store      the destination: .part files, hashing, the rename that makes a file complete
    models     Job, Result, Report;  progress, summary: what the user sees;  cluster: Dask
"""
