"""The form intake service (表单回收服务): receives residents' submissions and hands them to staff.

A static portal cannot receive a form, so each community can run this small service itself,
on a government server or a small cloud host, without a third-party form service holding
residents' personal data.

- ``storage``  — SQLite in WAL mode; one writer thread commits in groups before anyone is answered.
- ``security`` — staff tokens (stored as salted scrypt hashes), the per-client token bucket,
                 trusted-proxy client addresses, origin checks, the request size limit.
- ``formsbridge`` — the narrow interface to the form definitions and their shared rules
                 (``generator.forms``); nothing here has its own copy of a validation rule.
- ``app``      — the Starlette application (``/f/<form>`` submissions, staff export, ``/healthz``).
- ``export``   — the responses CSV that ``gongzhi forms ingest`` reads, formula-neutralised.
- ``purge``    — deletion after each form's declared retention period.
- ``server``   — uvicorn with production settings and an access log without query strings.

The library never prints; ``generator/cli_intake.py`` is the command line.
"""
