"""``manage.py dicom_receiver [--ae-title RB] [--host ADDR] [--port 11112]
[--allowed-ae ORTHANC,MODALITY1] [--route CALLING_AE=study-slug:SITECODE ...] [--spool DIR]``:
run the DICOM storage SCP (:mod:`studies.services.dicom_receiver`) until interrupted.

Each option defaults to its ``READERBENCH_DICOM_*`` setting (see README, "DICOM networking").
The studies and sites of the routes must exist. Exit status 1 for a configuration error (named
on stderr) or a port that cannot be listened on; 0 after Ctrl-C or SIGTERM, once the imports of
the associations received so far have finished. One log line per association gives its counts;
pynetdicom's own messages show with ``-v 2``.
"""

from __future__ import annotations

import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from studies.management.commands.import_dicom import _quiet_library_logs
from studies.services.dicom_receiver import ReceiverConfig, ReceiverConfigError, StorageReceiver


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


class Command(BaseCommand):
    help = "Receive images by DICOM C-STORE and import each association into its study and site."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--ae-title", help="our AE title (READERBENCH_DICOM_AE_TITLE)")
        parser.add_argument("--host", help="address to listen on (READERBENCH_DICOM_HOST)")
        parser.add_argument("--port", type=int, help="port (READERBENCH_DICOM_PORT)")
        parser.add_argument(
            "--allowed-ae",
            type=_csv,
            metavar="AE,AE",
            help="calling AE titles accepted (READERBENCH_DICOM_ALLOWED_AES; "
            "default: those of the routes)",
        )
        parser.add_argument(
            "--route",
            action="append",
            metavar="CALLING_AE=SLUG:SITE",
            help="where a caller's images go; repeat for each (READERBENCH_DICOM_ROUTES)",
        )
        parser.add_argument("--spool", help="folder for received files (READERBENCH_DICOM_SPOOL)")

    def handle(self, *args, **options) -> None:
        library_level = logging.INFO if options["verbosity"] >= 2 else logging.WARNING
        logging.getLogger("pynetdicom").setLevel(library_level)
        # pydicom and its decoders log (with tracebacks) what they cannot decode; the import
        # rejects the file with its reason, and the association's line counts it.
        with _quiet_library_logs():
            self._run(options)

    def _run(self, options) -> None:
        try:
            config = ReceiverConfig.from_settings(
                ae_title_=options["ae_title"],
                host=options["host"],
                port=options["port"],
                allowed=options["allowed_ae"],
                routes=options["route"],
                spool=options["spool"],
            )
        except ReceiverConfigError as exc:
            raise CommandError(str(exc)) from None
        receiver = StorageReceiver(config)
        try:
            receiver.start()
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}"
            ) from None
        self.stdout.write(
            f"DICOM receiver {config.ae_title} on {config.host}:{receiver.port}; routes: "
            + ", ".join(f"{ae}={route}" for ae, route in config.routes.items())
        )
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.stdout.write("stopping: finishing the imports of the associations received")
            receiver.stop()
