// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QString>
#include <QtCore/qglobal.h>

QT_BEGIN_NAMESPACE
    class QAbstractSocket;
QT_END_NAMESPACE

/*!
    \namespace QtKeepAliveTesting
    \brief Fault injection for your own tests of dead-peer handling
    (CMake target \c QtKeepAlive::Testing, header \c <keepalivetesting.h>).

    No privileges are needed: everything acts on sockets of the calling
    process, typically the server side of a connection your test accepted on
    127.0.0.1.

    \code
    QTcpSocket *peer = server.nextPendingConnection();
    QVERIFY(QtKeepAliveTesting::silence(peer));   // a pulled cable, from the client's view
    QTRY_COMPARE_WITH_TIMEOUT(deadPeerSpy.count(), 1, 20000);
    \endcode
*/
namespace QtKeepAliveTesting {

/*!
    Makes \a socket silently discard every segment that reaches it, keepalive
    probes and retransmissions included, and never answer — exactly like a
    powered-off host or a pulled cable. Implemented with a classic BPF socket
    filter that drops everything (\c SO_ATTACH_FILTER, Linux only); it cannot
    be undone. Leave \a socket open while the other side notices: closing it
    would send a FIN or RST. Returns false and sets \a errorMessage if the
    platform has no such filter or the socket has no descriptor.
*/
bool silence(QAbstractSocket *socket, QString *errorMessage = nullptr);
//! Overload for a raw descriptor.
bool silence(qintptr descriptor, QString *errorMessage = nullptr);

/*!
    Closes \a socket abortively so that the other side receives a RST
    (\c SO_LINGER {on, 0} then close), like a crashed peer process whose
    host is still up.
*/
bool resetConnection(QAbstractSocket *socket, QString *errorMessage = nullptr);

} // namespace QtKeepAliveTesting
