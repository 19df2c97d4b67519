"""Loaded first by every Python a grading step starts (the runner puts this folder on PYTHONPATH).

Grading jobs are offline.  Without this, code that downloads (``pretrained=True``,
``CIFAR10(download=True)``, ``from_pretrained``) dies with an obscure
``[Errno 97] Address family not supported`` or a DNS error; with it, the error
says that the job is offline and what the instructor should declare instead.
Loopback and Unix sockets keep working.  Stdlib only, and cheap: it patches two
functions and imports nothing new when the step never opens a socket.
"""

import socket as _socket

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


_getaddrinfo = _socket.getaddrinfo
_connect = _socket.socket.connect
_connect_ex = _socket.socket.connect_ex


def _offline_getaddrinfo(host, *args, **kwargs):
    _refuse(host)
    return _getaddrinfo(host, *args, **kwargs)


def _offline_connect(self, address):
    if self.family in (_socket.AF_INET, _socket.AF_INET6) and isinstance(address, tuple):
        _refuse(address[0])
    return _connect(self, address)


def _offline_connect_ex(self, address):
    if self.family in (_socket.AF_INET, _socket.AF_INET6) and isinstance(address, tuple):
        _refuse(address[0])
    return _connect_ex(self, address)


_socket.getaddrinfo = _offline_getaddrinfo
_socket.socket.connect = _offline_connect
_socket.socket.connect_ex = _offline_connect_ex
