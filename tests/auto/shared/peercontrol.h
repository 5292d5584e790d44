// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// For the test programs that peerhelper.py (tests/auto/crossfaults) runs:
// the control channel to their peer in a network namespace.

#include <keepalivetesting.h>

#include <QtCore/QDebug>
#include <QtCore/QStringList>
#include <QtTest/QTest>

/*!
    In initTestCase(): opens \a control to the helper named by
    KEEPALIVE_PEER_CONTROL. Without the helper the test skips, except under
    CI=true, where a skip would hide a regression: it fails there.
*/
#define OPEN_PEER_CONTROL(control)                                                                 \
  do {                                                                                             \
    const QString address = QtKeepAliveTesting::PeerControl::addressFromEnvironment();             \
    if (address.isEmpty()) {                                                                       \
      const QString why = QStringLiteral("no peer helper (run through peerhelper.py run)");        \
      if (qEnvironmentVariable("CI") == QStringLiteral("true"))                                    \
        QFAIL(qPrintable(QStringLiteral("CI=true, no skipping: %1").arg(why)));                    \
      QSKIP(qPrintable(why));                                                                      \
    }                                                                                              \
    QString openError;                                                                             \
    QVERIFY2((control).open(address, &openError), qPrintable(openError));                          \
  } while (false)

namespace DeadPeerTest {

//! Sends \a line to the helper: the answer's values, or {"error"} after a warning naming it.
inline QStringList peerCommand(QtKeepAliveTesting::PeerControl &control, const QString &line)
{
    QString error;
    const QStringList answer = control.command(line, &error);
    if (!error.isEmpty())
        qWarning().noquote() << "peer helper:" << error;
    return error.isEmpty() ? answer : QStringList{QStringLiteral("error")};
}

} // namespace DeadPeerTest
