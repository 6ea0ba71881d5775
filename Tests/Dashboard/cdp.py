"""A small Chrome DevTools Protocol client over a stdlib-only WebSocket, for headless Chromium.

Only what the dashboard tests need: start Chromium, open tabs, evaluate JavaScript, wait for
the DOM, take screenshots, and collect console errors, exceptions and CSP violations.
"""
import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time


class WebSocket:
    """RFC 6455 client: text frames, masking, fragmentation, ping/pong. Enough for CDP."""

    def __init__(self, url, timeout=30):
        assert url.startswith('ws://'), url
        rest = url[len('ws://'):]
        hostport, _, path = rest.partition('/')
        host, _, port = hostport.partition(':')
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (f'GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'
                   f'Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n')
        self.sock.sendall(request.encode())
        response = b''
        while b'\r\n\r\n' not in response:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError('websocket handshake: connection closed')
            response += chunk
        head, _, self.buffer = response.partition(b'\r\n\r\n')
        if b' 101 ' not in head.split(b'\r\n')[0]:
            raise ConnectionError('websocket handshake refused: ' + head.decode(errors='replace'))

    def _read(self, n):
        while len(self.buffer) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buffer)))
            if not chunk:
                raise ConnectionError('websocket closed')
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _send_frame(self, opcode, payload):
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 65536:
            header += bytes([0x80 | 126]) + struct.pack('>H', length)
        else:
            header += bytes([0x80 | 127]) + struct.pack('>Q', length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send(self, text):
        self._send_frame(0x1, text.encode())

    def recv(self, timeout):
        self.sock.settimeout(timeout)
        message = b''
        while True:
            b1, b2 = self._read(2)
            opcode = b1 & 0x0F
            length = b2 & 0x7F
            if length == 126:
                length = struct.unpack('>H', self._read(2))[0]
            elif length == 127:
                length = struct.unpack('>Q', self._read(8))[0]
            mask = self._read(4) if b2 & 0x80 else None
            payload = self._read(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            if opcode == 0x9:
                self._send_frame(0xA, payload)
                continue
            if opcode == 0x8:
                raise ConnectionError('websocket closed by the browser')
            if opcode in (0x0, 0x1, 0x2):
                message += payload
                if b1 & 0x80:
                    return message.decode()

    def close(self):
        try:
            self._send_frame(0x8, b'')
        except OSError:
            pass
        self.sock.close()


class CDPError(Exception):
    pass


class Browser:
    """Headless Chromium with one DevTools connection; pages are flattened target sessions."""

    def __init__(self, width=1280, height=800):
        self.profile = tempfile.mkdtemp(prefix='ota-dash-chromium-')
        binary = os.environ.get('CHROMIUM') or shutil.which('chromium') or shutil.which('chromium-browser') or shutil.which('google-chrome')
        if not binary:
            raise RuntimeError('chromium not found (scripts/install-deps.sh test installs it)')
        args = [binary, '--headless=new', '--remote-debugging-port=0', f'--user-data-dir={self.profile}',
                f'--window-size={width},{height}', '--no-first-run', '--no-default-browser-check', '--disable-gpu',
                '--disable-extensions', '--disable-background-networking', '--disable-component-update', '--disable-sync',
                '--disable-default-apps', '--disable-client-side-phishing-detection', '--metrics-recording-only', '--mute-audio',
                '--no-proxy-server', '--hide-scrollbars', '--force-color-profile=srgb',
                '--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication,InterestFeedContentSuggestions',
                # Nothing but the local test server is reachable.
                '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
                'about:blank']
        if os.geteuid() == 0:
            args.insert(1, '--no-sandbox')
        self.log = open(os.path.join(self.profile, 'chromium.log'), 'w')
        self.process = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        port_file = os.path.join(self.profile, 'DevToolsActivePort')
        deadline = time.time() + 30
        while time.time() < deadline:
            if os.path.exists(port_file):
                lines = open(port_file).read().split('\n')
                if len(lines) >= 2 and lines[1]:
                    break
            if self.process.poll() is not None:
                raise RuntimeError('chromium exited early; see ' + self.log.name)
            time.sleep(0.05)
        else:
            raise RuntimeError('chromium did not open its DevTools port')
        self.ws = WebSocket(f'ws://127.0.0.1:{lines[0].strip()}{lines[1].strip()}')
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None, timeout=30):
        self.next_id += 1
        message = {'id': self.next_id, 'method': method, 'params': params or {}}
        if session:
            message['sessionId'] = session
        self.ws.send(json.dumps(message))
        deadline = time.time() + timeout
        while True:
            left = deadline - time.time()
            if left <= 0:
                raise CDPError(f'{method}: no answer in {timeout} s')
            answer = json.loads(self.ws.recv(left))
            if answer.get('id') == self.next_id:
                if 'error' in answer:
                    raise CDPError(f'{method}: {answer["error"]}')
                return answer.get('result', {})
            if 'method' in answer:
                self.events.append(answer)

    def pump(self, seconds=0.05):
        """Reads pending events for a moment."""
        deadline = time.time() + seconds
        while time.time() < deadline:
            try:
                answer = json.loads(self.ws.recv(max(0.01, deadline - time.time())))
            except (socket.timeout, TimeoutError):
                return
            if 'method' in answer:
                self.events.append(answer)

    def new_page(self, width=1280, height=800):
        target = self.send('Target.createTarget', {'url': 'about:blank'})['targetId']
        session = self.send('Target.attachToTarget', {'targetId': target, 'flatten': True})['sessionId']
        page = Page(self, session, target)
        page.send('Page.enable')
        page.send('Runtime.enable')
        page.send('Log.enable')
        page.send('Emulation.setDeviceMetricsOverride', {'width': width, 'height': height, 'deviceScaleFactor': 1, 'mobile': False})
        return page

    def problems(self):
        """Console errors, uncaught exceptions and CSP violations seen so far, as text."""
        found = []
        for event in self.events:
            method, params = event['method'], event.get('params', {})
            if method == 'Runtime.exceptionThrown':
                details = params.get('exceptionDetails', {})
                found.append('exception: ' + (details.get('exception', {}).get('description') or details.get('text', '')))
            elif method == 'Runtime.consoleAPICalled' and params.get('type') in ('error', 'assert'):
                found.append('console.error: ' + ' '.join(str(a.get('value', a.get('description', ''))) for a in params.get('args', [])))
            elif method == 'Log.entryAdded' and params.get('entry', {}).get('level') == 'error':
                entry = params['entry']
                found.append(f'log ({entry.get("source")}): {entry.get("text")} {entry.get("url", "")}')
        return found

    def close(self):
        try:
            self.send('Browser.close', timeout=5)
        except Exception:
            pass
        try:
            self.ws.close()
        except Exception:
            pass
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait(5)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser, session, target):
        self.browser = browser
        self.session = session
        self.target = target

    def send(self, method, params=None, timeout=30):
        return self.browser.send(method, params, session=self.session, timeout=timeout)

    def eval(self, expression, timeout=30):
        result = self.send('Runtime.evaluate', {'expression': expression, 'returnByValue': True, 'awaitPromise': True,
                                                'userGesture': True}, timeout=timeout)
        if 'exceptionDetails' in result:
            details = result['exceptionDetails']
            raise CDPError('evaluate failed: ' + (details.get('exception', {}).get('description') or details.get('text', '')))
        return result.get('result', {}).get('value')

    def navigate(self, url):
        self.send('Page.navigate', {'url': url})

    def wait_for(self, expression, timeout=10, what=None):
        """Polls a JavaScript expression until it is truthy; returns its value."""
        deadline = time.time() + timeout
        last_error = None
        wrapped = f'(() => {{ const v = ({expression}); return v instanceof Node ? true : v; }})()'
        while time.time() < deadline:
            try:
                value = self.eval(wrapped)
                if value:
                    return value
            except CDPError as error:
                last_error = error
            time.sleep(0.1)
        raise AssertionError(f'timed out after {timeout} s waiting for {what or expression}' + (f' ({last_error})' if last_error else ''))

    def screenshot(self, path, full_page=False):
        params = {'format': 'png'}
        if full_page:
            metrics = self.send('Page.getLayoutMetrics')
            size = metrics.get('cssContentSize') or metrics['contentSize']
            params['clip'] = {'x': 0, 'y': 0, 'width': size['width'], 'height': size['height'], 'scale': 1}
            params['captureBeyondViewport'] = True
        data = self.send('Page.captureScreenshot', params)['data']
        with open(path, 'wb') as handle:
            handle.write(base64.b64decode(data))
