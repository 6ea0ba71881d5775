"""Shared pieces of the dashboard tests and the screenshot script: seeding, the browser, and
cleanup that never leaves a server or a browser behind."""
import json
import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from cdp import Browser  # noqa: E402
from seed import Seeded, binaries_dir  # noqa: E402

TOKEN_KEY = 'ota.dashboard.token'


def terminate_on_signals():
    """SIGTERM and SIGHUP unwind like Ctrl-C, so every `finally` cleans up."""
    def handler(signum, _frame):
        raise KeyboardInterrupt(f'signal {signum}')
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, handler)


class Session:
    """A seeded server and a headless browser, torn down together."""

    def __init__(self, workdir=None):
        self.workdir = workdir or os.environ.get('OTA_DASHBOARD_WORKDIR')
        self.own_workdir = not self.workdir
        if self.own_workdir:
            self.workdir = tempfile.mkdtemp(prefix='ota-dashboard-')
        self.seeded = None
        self.browser = None

    def __enter__(self):
        terminate_on_signals()
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self):
        started = time.time()
        self.seeded = Seeded(os.path.join(self.workdir, 'server'), binaries_dir())
        os.makedirs(self.seeded.root, exist_ok=True)
        self.seeded.start()
        self.record_pid(self.seeded.server.pid)
        self.seeded.seed()
        self.record_pid(self.seeded.server.pid)
        print(f'# seeded {self.seeded.expect["devices"]} devices, {len(self.seeded.bundles)} bundles and '
              f'{len(self.seeded.deployments)} rollouts at {self.seeded.url} in {time.time() - started:.1f} s', flush=True)
        self.browser = Browser()
        self.record_pid(self.browser.process.pid)

    def record_pid(self, pid):
        # Each child leads its own process group. The shell wrapper kills these groups if
        # this process itself dies without cleaning up; a clean exit removes the file.
        with open(os.path.join(self.workdir, 'pgids'), 'a') as handle:
            handle.write(f'{pid}\n')

    def __exit__(self, *exc):
        try:
            if self.browser:
                self.browser.close()
        finally:
            if self.seeded:
                self.seeded.stop()
        try:
            os.remove(os.path.join(self.workdir, 'pgids'))
        except FileNotFoundError:
            pass
        if self.own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def url(self):
        return self.seeded.url

    def open(self, role, hash_path='#/overview', page=None):
        """A tab signed in with `role`'s token (set in sessionStorage, never in the URL)."""
        page = page or self.browser.new_page()
        page.navigate(self.url + '/ui/index.html')
        page.wait_for("document.readyState === 'complete' && document.getElementById('app')", what='the dashboard page')
        page.eval(f'sessionStorage.setItem({json.dumps(TOKEN_KEY)}, {json.dumps(self.seeded.tokens[role])})')
        # A full load (sessionStorage stays with the tab), not a same-document hash change.
        page.navigate('about:blank')
        page.wait_for("location.href === 'about:blank' && document.readyState === 'complete'", what='a blank page')
        page.navigate(self.url + '/ui/index.html' + hash_path)
        wait_ready(page, hash_path)
        return page

    def go(self, page, hash_path):
        """Navigates inside the single-page app and waits for the new view to render."""
        page.eval(f'''new Promise((resolve) => {{
            if (location.hash === {json.dumps(hash_path)}) {{ location.reload(); resolve(true); return; }}
            addEventListener('hashchange', () => resolve(true), {{ once: true }});
            location.hash = {json.dumps(hash_path)};
        }})''')
        time.sleep(0.05)
        wait_ready(page, hash_path)


def wait_ready(page, what, timeout=10):
    page.wait_for("document.querySelector('#main[data-ready]') && document.querySelector('#main').dataset.view !== undefined",
                  timeout=timeout, what=f'{what} to render')
