"""Loaded first by every Python a grading step starts (the runner puts this folder on PYTHONPATH).

Grading jobs are offline.  Without this, code that downloads (``pretrained=True``,
``CIFAR10(download=True)``, ``from_pretrained``) dies with an obscure
``[Errno 97] Address family not supported`` or a DNS error; with it, the error
says that the job is offline and what the instructor should declare instead.
Loopback and Unix sockets keep working.  Stdlib only, and cheap: ``socket`` is
patched when something first imports it (a meta-path hook), so a step that never
touches the network does not even pay for importing it (about 5 ms).
"""

import sys

_LOCAL = {"localhost", "127.0.0.1", "::1", "0.0.0.0", "", None}
_MESSAGE = (
    "this grading job is offline (no network): the code tried to reach {host}. "
    "Files it would download must come from a dataset: the instructor registers them "
    "(manage.py dataset_add NAME PATH) and declares it in harness.toml [data], where it is mounted "
    "read-only at /data/NAME (pretrained weights: declare a dataset mounted as 'torch' for "
    "TORCH_HOME=/data/torch, or 'huggingface' for HF_HOME=/data/huggingface; see docs/harness.md)."
)


class OfflineError(ConnectionError):
    """Raised instead of a network connection inside a grading job."""


def _refuse(host):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if host in _LOCAL or (isinstance(host, str) and host.startswith("127.")):
        return
    raise OfflineError(_MESSAGE.format(host=host))


def _patch(socket):
    getaddrinfo, connect, connect_ex = socket.getaddrinfo, socket.socket.connect, socket.socket.connect_ex
    inet = (socket.AF_INET, socket.AF_INET6)

    def offline_getaddrinfo(host, *args, **kwargs):
        _refuse(host)
        return getaddrinfo(host, *args, **kwargs)

    def offline_connect(self, address):
        if self.family in inet and isinstance(address, tuple):
            _refuse(address[0])
        return connect(self, address)

    def offline_connect_ex(self, address):
        if self.family in inet and isinstance(address, tuple):
            _refuse(address[0])
        return connect_ex(self, address)

    socket.getaddrinfo = offline_getaddrinfo
    socket.socket.connect = offline_connect
    socket.socket.connect_ex = offline_connect_ex


class _PatchingLoader:
    def __init__(self, loader):
        self._loader = loader

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        self._loader.exec_module(module)
        _patch(module)


class _SocketHook:
    """Finds ``socket`` with the normal machinery, then patches it right after it runs."""

    def find_spec(self, name, path=None, target=None):
        if name != "socket":
            return None
        sys.meta_path.remove(self)
        from importlib.machinery import PathFinder

        spec = PathFinder.find_spec(name, path)
        if spec is not None and spec.loader is not None:
            spec.loader = _PatchingLoader(spec.loader)
        return spec


if "socket" in sys.modules:
    _patch(sys.modules["socket"])
else:
    sys.meta_path.insert(0, _SocketHook())
