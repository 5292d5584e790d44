// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/qglobal.h>
#include <QtNetwork/QTcpSocket>

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

/*!
    \class QtKeepAliveTesting::PeerControl
    \brief The control channel to a peer on another system, for a program
    that runs where no socket filter can silence a local peer (Windows).

    The peer is a Linux process in a network namespace, made and driven by
    \c tests/auto/crossfaults/peerhelper.py, which starts the program under
    test (under Wine for a Windows build: Wine programs use the host's
    network stack) with the channel's address in \c KEEPALIVE_PEER_CONTROL.
    One command per line ("setup", "silence", "reset", "close", "stop", …,
    listed in peerhelper.py), one answer line: "ok" and its values, or
    "error" and the reason. Blocking; each command waits at most
    ControlTimeoutMs.

    \code
    QtKeepAliveTesting::PeerControl peer;
    QString error;
    QVERIFY2(peer.open(QtKeepAliveTesting::PeerControl::addressFromEnvironment(), &error),
             qPrintable(error));
    const QStringList setup = peer.command(QStringLiteral("setup"), &error); // address, port, ...
    \endcode
*/
class PeerControl
{
public:
    static constexpr int ControlTimeoutMs = 15000;

    //! The channel's address from \c KEEPALIVE_PEER_CONTROL ("127.0.0.1:PORT"), or empty.
    static QString addressFromEnvironment();

    //! Whether \a address is "HOST:PORT" with an IP address and a port 1..65535.
    static bool isValidAddress(const QString &address);

    //! Connects to \a address ("HOST:PORT"); false with the reason in \a errorMessage.
    bool open(const QString &address, QString *errorMessage);
    //! Whether open() succeeded and the channel is still up.
    bool isOpen() const;

    /*!
        Sends \a line and returns the answer's values (the words after
        "ok"; empty for a plain "ok"). On an error answer, no answer within
        ControlTimeoutMs or a closed channel, returns an empty list and sets
        \a errorMessage to the command and the reason.
    */
    QStringList command(const QString &line, QString *errorMessage);

private:
    QTcpSocket m_socket;
};

} // namespace QtKeepAliveTesting
