// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// The third-party WebSocket peer of the tests websocketheartbeat and
// websocketserver: Python's websockets package, looked for at run time.

#include "skiporfail.h"

#include <QtCore/QProcess>
#include <QtCore/QStandardPaths>
#include <QtCore/QString>
#include <QtCore/QStringList>

namespace PythonPeer {

//! A python3 that has the websockets package; empty, with *why, if there is none.
inline QString findPythonWithWebSockets(QString *why)
{
    const QStringList candidates{qEnvironmentVariable("KEEPALIVE_PYTHON"),
                                 QStandardPaths::findExecutable(QStringLiteral("python3")),
                                 QStringLiteral("/usr/bin/python3")};
    for (const QString &candidate : candidates) {
        if (candidate.isEmpty())
            continue;
        QProcess probe;
        probe.start(candidate, {QStringLiteral("-c"), QStringLiteral("import websockets")});
        if (probe.waitForFinished(20000) && probe.exitStatus() == QProcess::NormalExit
            && probe.exitCode() == 0)
            return candidate;
    }
    *why = QStringLiteral("needs python3 with the websockets package (Debian: "
                          "python3-websockets; or KEEPALIVE_PYTHON)");
    return {};
}

} // namespace PythonPeer

/*!
    In initTestCase(): sets \a python to a python3 with the websockets package;
    without one the test skips (fails under CI=true).
*/
#define FIND_PYTHON_WITH_WEBSOCKETS(python)                                                        \
  do {                                                                                             \
    QString why;                                                                                   \
    (python) = PythonPeer::findPythonWithWebSockets(&why);                                         \
    if ((python).isEmpty())                                                                        \
      SKIP_OR_FAIL_UNDER_CI(why);                                                                  \
  } while (false)
