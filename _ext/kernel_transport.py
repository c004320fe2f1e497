"""Encrypted kernel connections for the notebooks the build executes (a quiet build log).

Every kernel that ipykernel starts over TCP without CurveZMQ keys prints, on the build's
stderr, "Kernel is running over TCP without encryption ... Use IPC transport or launch
with kernel manager-provisioned CurveZMQ keys". The warning is right: the build talks to
its kernels in plain text on localhost ports. jupyter_client can provision the keys
(``KernelManager.transport_encryption = "auto"``: encrypt when the kernelspec declares
``"supported_encryption": ["curve"]``, as ipykernel's does), but myst-nb and jupyter-cache
create their kernel managers without any configuration, and the policy defaults to
"disabled". This extension makes "auto" the default for the kernel managers that nbclient
creates in the build's process, by giving nbclient (which looks its default manager class
up in ``jupyter_client`` each time it starts a kernel) a subclass whose only change is that
default. The warning then disappears because its cause is gone; every other message of
the kernels still reaches the log. Where pyzmq has no CurveZMQ support nothing changes
(and the warning, then true, stays).

The notebook tests do the same explicitly: ``tests/test_notebooks.py`` starts its kernels
with ``transport_encryption="auto"``.
"""

from __future__ import annotations


def setup(app):
    import jupyter_client
    import zmq
    from traitlets import CaselessStrEnum

    base = jupyter_client.AsyncKernelManager
    if zmq.has("curve") and "transport_encryption" in base.class_trait_names():
        class EncryptedAsyncKernelManager(base):
            """AsyncKernelManager that encrypts when the kernelspec supports it."""

            transport_encryption = CaselessStrEnum(
                ["disabled", "auto", "required"], default_value="auto", config=True,
                help="CurveZMQ keys for kernels whose kernelspec supports them "
                     "(the book build's default: see _ext/kernel_transport.py).")

        jupyter_client.AsyncKernelManager = EncryptedAsyncKernelManager
    return {"parallel_read_safe": True, "parallel_write_safe": True}
