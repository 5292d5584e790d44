// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// What the fault tests (deadpeer, deadpeernetns) record and assert about one
// dead connection, as an application sees it.

#include <KeepAliveSocket>
#include <KeepAliveSslSocket>

#include <QtCore/QDebug>
#include <QtCore/QElapsedTimer>
#include <QtCore/QStringList>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <chrono>
#include <utility>

#if defined(Q_OS_LINUX)
#  include <linux/sockios.h>
#  include <sys/ioctl.h>
#  include <sys/socket.h>
#endif

namespace DeadPeerTest {

/*!
    The library runs in its public-API-only mode (the testing switch, see
    QtInternals in src/qtseam/qtinternals_p.h): tests assert what that mode
    documents where it differs.
*/
inline bool publicApiOnly()
{
    return qEnvironmentVariableIntValue("QTKEEPALIVE_TESTING_PUBLIC_API_ONLY") != 0;
}

//! The fault tests' keepalive settings: idle 1 s, interval 1 s, 2 probes (bound 3 s).
inline KeepAliveOptions shortOptions()
{
    using namespace std::chrono_literals;
    return KeepAliveOptions().setIdle(1s).setInterval(1s).setProbeCount(2);
}

//! The detection bound of shortOptions() (3000 ms).
inline qint64 boundMs()
{
    return shortOptions().detectionBound().count();
}

//! errorString() of a KeepAliveTimeout with shortOptions().
inline QString keepAliveTimeoutMessage()
{
    return QStringLiteral("peer did not answer 2 keepalive probes (idle 1 s, interval 1 s)");
}

//! errorString() of a RetransmissionTimeout with shortOptions().
inline QString retransmissionTimeoutMessage()
{
    return QStringLiteral("peer did not acknowledge sent data within the 3 s user timeout (idle "
                          "1 s, interval 1 s)");
}

//! errorString() of a ConnectionReset.
inline QString resetMessage()
{
    return QStringLiteral("connection reset by peer (RST received)");
}

#if defined(Q_OS_LINUX)
//! Bytes in the kernel's send queue not yet acknowledged (SIOCOUTQ: unsent + in flight), -1 on error.
inline int unacknowledgedBytes(qintptr descriptor)
{
    int bytes = 0;
    if (::ioctl(int(descriptor), SIOCOUTQ, &bytes) != 0)
        return -1;
    return bytes;
}

//! An int socket option as the kernel holds it (the test's own getsockopt()), -1 on error.
inline int intOption(qintptr descriptor, int level, int option)
{
    int value = -1;
    socklen_t length = sizeof value;
    if (::getsockopt(int(descriptor), level, option, &value, &length) != 0)
        return -1;
    return value;
}
#endif

using Reason = KeepAliveSocket::DeadPeerReason;

/*!
    Calls \a function with \a socket as the library class it is
    (KeepAliveSocket or KeepAliveSslSocket): the family's tests are written
    once for both.
*/
template<typename Function>
decltype(auto) asClient(QAbstractSocket *socket, Function &&function)
{
    if (auto *tls = qobject_cast<KeepAliveSslSocket *>(socket))
        return std::forward<Function>(function)(tls);
    return std::forward<Function>(function)(static_cast<KeepAliveSocket *>(socket));
}

inline bool setKeepAliveOptions(QAbstractSocket &client, const KeepAliveOptions &options)
{
    return asClient(&client, [&](auto *socket) { return socket->setKeepAliveOptions(options); });
}

inline KeepAliveSocket::DeadPeerReason deadPeerReasonOf(QAbstractSocket &client)
{
    return asClient(&client, [](auto *socket) { return socket->deadPeerReason(); });
}

inline ConnectionHealth connectionHealthOf(QAbstractSocket &client)
{
    return asClient(&client, [](auto *socket) { return socket->connectionHealth(); });
}

inline EffectiveKeepAliveOptions effectiveOptionsOf(QAbstractSocket &client)
{
    return asClient(&client, [](auto *socket) { return socket->effectiveKeepAliveOptions(); });
}

//! What Qt holds to send: for TLS, encrypted bytes too (bytesToWrite() counts plaintext only).
inline qint64 queuedBytes(QAbstractSocket &client)
{
    if (auto *tls = qobject_cast<QSslSocket *>(&client))
        return tls->bytesToWrite() + tls->encryptedBytesToWrite();
    return client.bytesToWrite();
}

//! The library's flush(), not QAbstractSocket's (which is not virtual).
inline bool flushClient(QAbstractSocket &client)
{
    return asClient(&client, [](auto *socket) { return socket->flush(); });
}

// What the peer sends just before it dies; the client application never reads
// it before the deadPeer() and disconnected() handlers. Binary, so that any
// loss, truncation or duplication shows.
/*!
    What \a peer receives until its connection ends (the other side's close
    reaches it) or \a timeoutMs pass, with its read buffer limit lifted.
*/
inline QByteArray readUntilPeerClosed(QTcpSocket *peer, qint64 timeoutMs)
{
    peer->setReadBufferSize(0);
    QByteArray received = peer->readAll();
    QElapsedTimer reading;
    reading.start();
    while (peer->state() == QAbstractSocket::ConnectedState && reading.elapsed() < timeoutMs) {
        peer->waitForReadyRead(200);
        received += peer->readAll();
    }
    return received + peer->readAll();
}

inline QByteArray peerPayload()
{
    QByteArray payload(1500, Qt::Uninitialized);
    for (int i = 0; i < payload.size(); ++i)
        payload[i] = char((i * 7 + 3) & 0xff);
    return payload;
}

inline QString describe(const ConnectionHealth &health)
{
    QString text;
    QDebug(&text).nospace() << health;
    return text;
}

// Everything the application sees of the end of one connection, recorded by
// handlers connected after the library's own (as an application's are).
class Watch : public QObject
{
public:
    //! \a socket is a KeepAliveSocket or a KeepAliveSslSocket.
    explicit Watch(QAbstractSocket *socket)
        : socket(socket),
          deadPeerSpy(socket, SIGNAL(deadPeer(QtKeepAlive::DeadPeerReason))),
          errorSpy(socket, &QAbstractSocket::errorOccurred),
          disconnectedSpy(socket, &QAbstractSocket::disconnected)
    {
        clock.start();
        asClient(socket, [this](auto *client) {
            using Client = std::remove_pointer_t<decltype(client)>;
            connect(client, &Client::deadPeer, this, [this](Reason reason) { onDeadPeer(reason); });
        });
        connect(socket, &QAbstractSocket::errorOccurred, this,
                [this](QAbstractSocket::SocketError error) {
                    events << QStringLiteral("errorOccurred");
                    this->error = error;
                    errorString = this->socket->errorString();
                });
        connect(socket, &QAbstractSocket::disconnected, this, [this] {
            events << QStringLiteral("disconnected");
            disconnectedAt = clock.elapsed();
            // After the application's own abort() or close() the device is closed.
            if (this->socket->isOpen())
                readAtDisconnected += this->socket->readAll();
        });
    }

    QAbstractSocket *const socket;
    //! Started with the watch; tests restart it at the fault (or the last traffic before it).
    QElapsedTimer clock;
    QSignalSpy deadPeerSpy;
    QSignalSpy errorSpy;
    QSignalSpy disconnectedSpy;

    QStringList events;
    qint64 deadPeerAt = -1;
    qint64 disconnectedAt = -1;
    Reason reasonArgument = Reason::None;
    Reason reasonGetter = Reason::None;
    QString errorStringAtDeadPeer;
    qint64 availableAtDeadPeer = -1;
    QByteArray peekedAtDeadPeer;
    quint16 localPortAtDeadPeer = 0;
    QAbstractSocket::SocketError error = QAbstractSocket::UnknownSocketError;
    QString errorString;
    QByteArray readAtDisconnected;

private:
    void onDeadPeer(Reason reason)
    {
        events << QStringLiteral("deadPeer");
        deadPeerAt = clock.elapsed();
        reasonArgument = reason;
        reasonGetter = deadPeerReasonOf(*socket);
        errorStringAtDeadPeer = socket->errorString();
        availableAtDeadPeer = socket->bytesAvailable();
        peekedAtDeadPeer = socket->peek(socket->bytesAvailable());
        localPortAtDeadPeer = socket->localPort();
    }
};

// Asserts what the application saw of one dead connection, after
// disconnected(): one deadPeer(reason) before errorOccurred(error) before
// disconnected(), the message, and the peer's last bytes intact in both
// handlers. Unless the caller has already waited, waits a little longer to
// see that nothing follows.
enum class Settle { Wait, AlreadyWaited };
inline void verifyDeath(Watch &watch, Reason reason, QAbstractSocket::SocketError error,
                        const QString &message, Settle settle = Settle::Wait)
{
    QCOMPARE(watch.disconnectedSpy.count(), 1);
    QCOMPARE(watch.deadPeerSpy.count(), 1);
    QCOMPARE(watch.deadPeerSpy.at(0).at(0).value<Reason>(), reason);
    QCOMPARE(watch.reasonArgument, reason);
    QCOMPARE(watch.reasonGetter, reason);
    QCOMPARE(deadPeerReasonOf(*watch.socket), reason);
    QCOMPARE(watch.events,
             QStringList({QStringLiteral("deadPeer"), QStringLiteral("errorOccurred"),
                          QStringLiteral("disconnected")}));
    QCOMPARE(watch.errorSpy.count(), 1);
    QCOMPARE(watch.error, error);
    QCOMPARE(watch.errorStringAtDeadPeer, message);
    QCOMPARE(watch.errorString, message);
    QCOMPARE(watch.socket->errorString(), message);

    const QByteArray payload = peerPayload();
    QCOMPARE(watch.availableAtDeadPeer, qint64(payload.size()));
    QCOMPARE(watch.peekedAtDeadPeer, payload);
    QCOMPARE(watch.readAtDisconnected, payload);
    QCOMPARE(watch.socket->state(), QAbstractSocket::UnconnectedState);

    if (settle == Settle::Wait)
        QTest::qWait(500);
    QCOMPARE(watch.deadPeerSpy.count(), 1);
    QCOMPARE(watch.errorSpy.count(), 1);
    QCOMPARE(watch.disconnectedSpy.count(), 1);
    QCOMPARE(deadPeerReasonOf(*watch.socket), reason);
    QCOMPARE(watch.socket->errorString(), message);
}

} // namespace DeadPeerTest
