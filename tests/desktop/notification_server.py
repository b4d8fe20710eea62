"""A desktop notification server (org.freedesktop.Notifications) for the desktop app's end-to-end test.

It stands in for the notification daemon a desktop session runs: it takes
the name on the session bus, answers Notify like a real server, and appends
each notification to a JSON-lines file the test reads. Usage:
    python notification_server.py RECORD_FILE
It prints "ready" once the bus name is held, and runs until killed.
"""

import asyncio
import itertools
import json
import sys

from dbus_next.aio import MessageBus
from dbus_next.service import ServiceInterface, method

BUS_NAME = "org.freedesktop.Notifications"
OBJECT_PATH = "/org/freedesktop/Notifications"


class Notifications(ServiceInterface):
    def __init__(self, record_path):
        super().__init__(BUS_NAME)
        self._record_path = record_path
        self._ids = itertools.count(1)

    @method()
    def GetCapabilities(self) -> "as":  # noqa: F821 (D-Bus signature)
        return ["body"]

    @method()
    def GetServerInformation(self) -> "ssss":  # noqa: F821
        return ["omniroute-test", "omniroute", "1.0", "1.2"]

    @method()
    def Notify(
        self,
        app_name: "s",  # noqa: F821
        replaces_id: "u",  # noqa: F821
        app_icon: "s",  # noqa: F821
        summary: "s",  # noqa: F821
        body: "s",  # noqa: F821
        actions: "as",  # noqa: F821
        hints: "a{sv}",  # noqa: F821
        expire_timeout: "i",  # noqa: F821
    ) -> "u":  # noqa: F821
        notification_id = next(self._ids)
        with open(self._record_path, "a", encoding="utf-8") as record:
            record.write(
                json.dumps({"id": notification_id, "app_name": app_name, "summary": summary, "body": body})
                + "\n"
            )
        return notification_id

    @method()
    def CloseNotification(self, notification_id: "u"):  # noqa: F821
        pass


async def main(record_path):
    bus = await MessageBus().connect()
    bus.export(OBJECT_PATH, Notifications(record_path))
    await bus.request_name(BUS_NAME)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
