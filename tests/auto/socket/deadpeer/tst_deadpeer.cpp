// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// Dead-peer detection against real faults, no mocks: every peer is a socket
// accepted by an in-process QTcpServer on 127.0.42.1. A silently dead peer is
// made with QtKeepAliveTesting::silence() (a drop-all socket filter: the
// peer's kernel discards every segment and never answers), a crashed one with
// QtKeepAliveTesting::resetConnection() (RST).
//
// Every dead connection is checked for what an application sees: the reason
// (signal argument and getter), exactly one deadPeer() and before
// disconnected(), the time from the fault, Qt's error code, the precise
// errorString(), and the bytes the peer sent before dying, still unread and
// intact in the deadPeer() and disconnected() handlers.
//
// Keepalive settings: idle 1 s, interval 1 s, 2 probes, automatic user
// timeout, so the detection bound is 3 s.

#include "../../shared/deadpeerwatch.h"
#include "../../shared/testproxy.h"
#include "../../shared/tlsfixture.h"

#include <KeepAliveSocket>
#include <keepalivetesting.h>

#include <QtCore/QDeadlineTimer>
#include <QtCore/QElapsedTimer>
#include <QtCore/QScopeGuard>
#include <QtCore/QHash>
#include <QtCore/QMetaEnum>
#include <QtCore/QSet>
#include <QtCore/QStringList>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

using namespace std::chrono;
using namespace std::chrono_literals;

using namespace DeadPeerTest;

namespace {

// The kernel caches RTT per destination (tcp_metrics) and starts a new
// connection's retransmission timeout from it: a connection to 127.0.0.1
// that another suite closed with a large RTT would make the first
// retransmission here seconds late. This suite's own loopback address keeps
// its timing its own.
const QHostAddress TestAddress(QStringLiteral("127.0.42.1"));

// Our data is queued but nothing is in flight: only the peer's closed
// receive window holds it back.
bool stalledOnZeroWindow(QAbstractSocket &client)
{
    const ConnectionHealth health = connectionHealthOf(client);
    return health.unackedSegments.value_or(1) == 0 && health.notSentBytes.value_or(0) > 0;
}

tcp_info tcpInfo(qintptr descriptor)
{
    tcp_info info{};
    socklen_t length = sizeof info;
    ::getsockopt(int(descriptor), IPPROTO_TCP, TCP_INFO, &info, &length);
    return info;
}

// Waits until an ACK (here: the answer to a window probe) has just arrived:
// the time since the last ACK drops. True if one came within `timeoutMs`.
bool waitForFreshAck(QAbstractSocket &socket, qint64 timeoutMs)
{
    QElapsedTimer timer;
    timer.start();
    milliseconds previous = connectionHealthOf(socket).sinceLastAckReceived.value_or(0ms);
    while (timer.elapsed() < timeoutMs) {
        QTest::qWait(2);
        const milliseconds age = connectionHealthOf(socket).sinceLastAckReceived.value_or(0ms);
        if (age < previous)
            return true;
        previous = age;
    }
    return false;
}

bool setIntOption(qintptr descriptor, int level, int option, int value)
{
    return ::setsockopt(int(descriptor), level, option, &value, sizeof value) == 0;
}

QString stalledPeerMessage()
{
    return QStringLiteral(
            "peer stopped answering while it was not accepting our data (user timeout 3 s)");
}

} // namespace

class tst_DeadPeer : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanup();

    void silentIdlePeer_data() { transports(); }
    void silentIdlePeer();
    void silentPeerWithDataInFlight_data();
    void silentPeerWithDataInFlight();
    void peerReset_data();
    void peerReset();
    void peerOrderlyClose_data() { transports(); }
    void peerOrderlyClose();
    void tlsCloseWithoutCloseNotify();
    void tlsInThreadWithoutEventLoop();
    void tlsOpensBuffered();
    void tlsServerSideAdoptsDescriptor();
    void tlsHandshakeFailureIsNoDeadPeer();
    void tlsThroughSocksProxy();
    void tlsAfterMoveToThread();
    void localClose_data();
    void localClose();
    void deathWhileQtIsNotReading_data();
    void deathWhileQtIsNotReading();
    void slowReaderIsNotDead_data();
    void slowReaderIsNotDead();
    void slowReaderPausingAroundTheBound_data();
    void slowReaderPausingAroundTheBound();
    void slowReaderSurvivesOptionsReappliedMidStall_data() { transports(); }
    void slowReaderSurvivesOptionsReappliedMidStall();
    void pausingReaderSurvivesShortUserTimeout_data();
    void pausingReaderSurvivesShortUserTimeout();
    void slowReaderKillsPlainSocketWithUserTimeout();
    void closeServesSlowReaderToTheEnd_data() { transports(); }
    void closeServesSlowReaderToTheEnd();
    void fiftyOfTwoHundredPeersDie();
    void reasonKeptAfterDisconnect_data() { transports(); }
    void reasonKeptAfterDisconnect();
    void blockingWaitTimeoutIsNotDeath_data() { transports(); }
    void blockingWaitTimeoutIsNotDeath();
    void deathSeenThroughBlockingWait_data() { transports(); }
    void deathSeenThroughBlockingWait();

private:
    //! The column "transport" with one row each: plain TCP and TLS (tlsfixture.h).
    void transports();
    bool listen(QTcpServer &server);
    QTcpSocket *connectPeer(QTcpServer &server, QAbstractSocket &client);
    bool deliverPeerPayload(QTcpSocket *peer, QAbstractSocket &client);
    bool silence(QTcpSocket *peer);
    QTcpSocket *startSlowReader(QTcpServer &server, QAbstractSocket &client);
    //! A client of \a transport with shortOptions() on a slow reader \a peer; null if that failed.
    std::unique_ptr<QAbstractSocket> slowReaderClient(Transport transport, QTcpSocket *&peer);

    std::unique_ptr<QTcpServer> m_server;
};

void tst_DeadPeer::initTestCase()
{
    VERIFY_TLS_AVAILABLE();
    QCOMPARE(boundMs(), qint64(3000));
    QCOMPARE(shortOptions().userTimeout(), 3000ms);
}

void tst_DeadPeer::transports()
{
    QTest::addColumn<Transport>("transport");
    for (Transport transport : {Transport::Plain, Transport::Tls})
        QTest::newRow(transportName(transport)) << transport;
}

void tst_DeadPeer::cleanup()
{
    m_server.reset();
}

bool tst_DeadPeer::listen(QTcpServer &server)
{
    // 200 clients connect at once: neither Qt's limit of pending connections
    // nor the kernel's accept queue (Qt's default backlog is 50) may refuse
    // one. A connection left in the accept queue's overflow answers the
    // first keepalive probe with a RST.
    server.setMaxPendingConnections(1000);
    server.setListenBacklogSize(1000);
    if (!server.listen(TestAddress, 0)) {
        qWarning() << "listen failed:" << server.errorString();
        return false;
    }
    return true;
}

// Connects `client` to `server` and returns the accepted peer (a child of
// the server), or nullptr.
QTcpSocket *tst_DeadPeer::connectPeer(QTcpServer &server, QAbstractSocket &client)
{
    startConnection(client, TestAddress, server.serverPort());
    if (!QTest::qWaitFor([&] { return server.hasPendingConnections(); }, 5000)) {
        qWarning() << "no connection accepted";
        return nullptr;
    }
    QTcpSocket *peer = server.nextPendingConnection();
    if (!QTest::qWaitFor([&] { return isReady(client); }, 5000)) {
        qWarning() << "client not connected:" << client.state() << client.errorString();
        return nullptr;
    }
    return peer;
}

// The peer's last bytes: sent, in the client's buffer (unread by the
// application), and acknowledged. The acknowledgement matters: a silenced
// peer with unacknowledged data would retransmit it, and every segment it
// sends refreshes the client's keepalive timer.
bool tst_DeadPeer::deliverPeerPayload(QTcpSocket *peer, QAbstractSocket &client)
{
    const QByteArray payload = peerPayload();
    peer->write(payload);
    peer->flush();
    const bool delivered = QTest::qWaitFor(
            [&] {
                return client.bytesAvailable() == payload.size()
                        && unacknowledgedBytes(peer->socketDescriptor()) == 0;
            },
            5000);
    if (!delivered)
        qWarning() << "payload not delivered: client holds" << client.bytesAvailable()
                   << "peer unacknowledged" << unacknowledgedBytes(peer->socketDescriptor());
    return delivered;
}

bool tst_DeadPeer::silence(QTcpSocket *peer)
{
    QString message;
    if (!QtKeepAliveTesting::silence(peer, &message)) {
        qWarning().noquote() << message;
        return false;
    }
    return true;
}

// A peer that stops reading: Qt reads at most 1 KiB for it and then leaves
// the rest in the kernel, whose receive buffer is small (set on the listening
// socket, so that the window scale offered in the handshake matches it).
// Returns the accepted peer once the client is connected.
QTcpSocket *tst_DeadPeer::startSlowReader(QTcpServer &server, QAbstractSocket &client)
{
    if (!listen(server))
        return nullptr;
    if (!setIntOption(server.socketDescriptor(), SOL_SOCKET, SO_RCVBUF, 16 * 1024)) {
        qWarning() << "SO_RCVBUF refused";
        return nullptr;
    }
    QTcpSocket *peer = connectPeer(server, client);
    if (peer)
        peer->setReadBufferSize(1024);
    return peer;
}

std::unique_ptr<QAbstractSocket> tst_DeadPeer::slowReaderClient(Transport transport,
                                                                QTcpSocket *&peer)
{
    m_server = makeServer(transport);
    std::unique_ptr<QAbstractSocket> client = makeClient(transport);
    peer = setKeepAliveOptions(*client, shortOptions()) ? startSlowReader(*m_server, *client)
                                                        : nullptr;
    if (!peer)
        client.reset();
    return client;
}

void tst_DeadPeer::silentIdlePeer()
{
    QFETCH(Transport, transport);
    m_server = makeServer(transport);
    QVERIFY(listen(*m_server));
    const std::unique_ptr<QAbstractSocket> clientSocket = makeClient(transport);
    QAbstractSocket &client = *clientSocket;
    QVERIFY(setKeepAliveOptions(client, shortOptions()));
    QTcpSocket *peer = connectPeer(*m_server, client);
    QVERIFY(peer);
    QCOMPARE(effectiveOptionsOf(client).userTimeout, 3000ms);
    Watch watch(&client);

    // The clock starts at the last traffic: the peer's bytes. The peer falls
    // silent as soon as they are acknowledged.
    watch.clock.start();
    QVERIFY(deliverPeerPayload(peer, client));
    const qint64 silencedAt = watch.clock.elapsed();
    QVERIFY(silence(peer));

    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, int(boundMs()) + 5000);
    qInfo("idle silent peer: deadPeer after %lld ms from the last traffic (silenced at %lld ms), "
          "bound %lld ms",
          watch.deadPeerAt, silencedAt, boundMs());
    verifyDeath(watch, Reason::KeepAliveTimeout, QAbstractSocket::SocketTimeoutError,
                keepAliveTimeoutMessage());
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(watch.deadPeerAt >= boundMs() * 9 / 10, qPrintable(QString::number(watch.deadPeerAt)));
    QVERIFY2(watch.deadPeerAt <= boundMs() + 1000, qPrintable(QString::number(watch.deadPeerAt)));
}

void tst_DeadPeer::silentPeerWithDataInFlight_data()
{
    QTest::addColumn<Transport>("transport");
    // How the write leaves Qt: each is a different path to the kernel.
    QTest::addColumn<QString>("sending");
    for (Transport transport : {Transport::Plain, Transport::Tls}) {
        for (const char *sending : {"flush()", "QAbstractSocket::flush()", "event loop"})
            QTest::addRow("%s, %s", transportName(transport), sending)
                    << transport << QString::fromLatin1(sending);
    }
}

void tst_DeadPeer::silentPeerWithDataInFlight()
{
    QFETCH(Transport, transport);
    QFETCH(QString, sending);
    m_server = makeServer(transport);
    QVERIFY(listen(*m_server));
    const std::unique_ptr<QAbstractSocket> clientSocket = makeClient(transport);
    QAbstractSocket &client = *clientSocket;
    QVERIFY(setKeepAliveOptions(client, shortOptions()));
    QTcpSocket *peer = connectPeer(*m_server, client);
    QVERIFY(peer);
    Watch watch(&client);
    QVERIFY(deliverPeerPayload(peer, client));
    // Idle long enough for any watch of outstanding data begun with the
    // connection to have ended: the write alone must start one.
    QTest::qWait(2000);

    // The kernel sends no keepalive probes while data is unacknowledged: only
    // the user timeout bounds this one.
    QVERIFY(silence(peer));
    watch.clock.start();
    QCOMPARE(client.write("request"), qint64(7));
    if (sending == QLatin1String("flush()"))
        QVERIFY(flushClient(client));
    else if (sending == QLatin1String("QAbstractSocket::flush()"))
        QVERIFY(client.flush()); // not virtual: what code holding a QTcpSocket pointer calls
    // else: at the write notification, in the event loop below

    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, int(boundMs()) + 5000);
    qInfo("busy silent peer, sent by %s: deadPeer after %lld ms from the unacknowledged write, "
          "bound %lld ms",
          qPrintable(sending), watch.deadPeerAt, boundMs());
    verifyDeath(watch, Reason::RetransmissionTimeout, QAbstractSocket::SocketTimeoutError,
                retransmissionTimeoutMessage());
    if (QTest::currentTestFailed())
        return;
    // At the bound, counted from the unacknowledged write: never before it
    // (TCP_INFO counts in jiffies), and not at the kernel's own end, the
    // first retransmission timer after a user timeout counted from its first
    // retransmission (3.41 s on loopback; see userTimeoutForSilentPeer()).
    QVERIFY2(watch.deadPeerAt >= boundMs() - 20, qPrintable(QString::number(watch.deadPeerAt)));
    QVERIFY2(watch.deadPeerAt <= boundMs() + 300, qPrintable(QString::number(watch.deadPeerAt)));
}

void tst_DeadPeer::peerReset_data()
{
    QTest::addColumn<Transport>("transport");
    QTest::addColumn<bool>("bytesInKernel");
    for (Transport transport : {Transport::Plain, Transport::Tls}) {
        // The RST arrives right behind the bytes, before Qt has read them:
        // the kernel holds both the data and the pending ECONNRESET.
        QTest::addRow("%s, bytes still in the kernel", transportName(transport))
                << transport << true;
        // Qt has already buffered the bytes when the RST arrives.
        QTest::addRow("%s, bytes buffered by Qt", transportName(transport)) << transport << false;
    }
}

void tst_DeadPeer::peerReset()
{
    QFETCH(bool, bytesInKernel);
    QFETCH(Transport, transport);
    m_server = makeServer(transport);
    QVERIFY(listen(*m_server));
    const std::unique_ptr<QAbstractSocket> clientSocket = makeClient(transport);
    QAbstractSocket &client = *clientSocket;
    QVERIFY(setKeepAliveOptions(client, shortOptions()));
    QTcpSocket *peer = connectPeer(*m_server, client);
    QVERIFY(peer);
    Watch watch(&client);

    if (bytesInKernel) {
        peer->write(peerPayload());
        QVERIFY(peer->flush());
    } else {
        QVERIFY(deliverPeerPayload(peer, client));
    }
    QString message;
    watch.clock.start();
    QVERIFY2(QtKeepAliveTesting::resetConnection(peer, &message), qPrintable(message));

    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    qInfo("peer reset: deadPeer after %lld ms", watch.deadPeerAt);
    verifyDeath(watch, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                resetMessage());
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(watch.deadPeerAt <= 1000, qPrintable(QString::number(watch.deadPeerAt)));
}

void tst_DeadPeer::peerOrderlyClose()
{
    QFETCH(Transport, transport);
    m_server = makeServer(transport);
    QVERIFY(listen(*m_server));
    const std::unique_ptr<QAbstractSocket> clientSocket = makeClient(transport);
    QAbstractSocket &client = *clientSocket;
    QVERIFY(setKeepAliveOptions(client, shortOptions()));
    QTcpSocket *peer = connectPeer(*m_server, client);
    QVERIFY(peer);
    Watch watch(&client);
    std::optional<QSignalSpy> truncatedSpy;
    if (transport == Transport::Tls)
        truncatedSpy.emplace(&client, SIGNAL(closeTruncated()));

    // Qt's own socket, closed by its peer the same way: what the
    // application sees must be the same, apart from deadPeer().
    const std::unique_ptr<QAbstractSocket> reference = makeQtClient(transport);
    QTcpSocket *referencePeer = connectPeer(*m_server, *reference);
    QVERIFY(referencePeer);
    QStringList referenceEvents;
    connect(reference.get(), &QAbstractSocket::errorOccurred, this, [&] {
        referenceEvents << QStringLiteral("errorOccurred: ") + reference->errorString();
    });
    connect(reference.get(), &QAbstractSocket::disconnected, this,
            [&] { referenceEvents << QStringLiteral("disconnected"); });
    QStringList events;
    connect(&client, &QAbstractSocket::errorOccurred, this,
            [&] { events << QStringLiteral("errorOccurred: ") + client.errorString(); });
    connect(&client, &QAbstractSocket::disconnected, this,
            [&] { events << QStringLiteral("disconnected"); });

    for (QTcpSocket *closing : {peer, referencePeer}) {
        closing->write(peerPayload());
        closing->disconnectFromHost();
    }

    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    QTRY_COMPARE_WITH_TIMEOUT(referenceEvents.count(QStringLiteral("disconnected")), 1, 5000);
    // As with QTcpSocket: RemoteHostClosedError, Qt's message, then
    // disconnected(). A QSslSocket reports the peer's close_notify ("The
    // TLS/SSL connection has been closed"), then the FIN behind it.
    QCOMPARE(events, referenceEvents);
    QCOMPARE(events.last(), QStringLiteral("disconnected"));
    QCOMPARE(events.first(),
             QStringLiteral("errorOccurred: %1")
                     .arg(transport == Transport::Plain
                                  ? QStringLiteral("The remote host closed the connection")
                                  : QSslSocket::tr("The TLS/SSL connection has been closed")));
    QCOMPARE(watch.error, QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(watch.readAtDisconnected, peerPayload());
    QCOMPARE(deadPeerReasonOf(client), Reason::None);

    // Past the bound: a closed connection has nothing left to time out.
    const qsizetype errors = watch.errorSpy.count();
    QTest::qWait(int(boundMs()) + 1000);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(watch.errorSpy.count(), errors);
    QCOMPARE(watch.disconnectedSpy.count(), 1);
    QCOMPARE(deadPeerReasonOf(client), Reason::None);
    if (transport == Transport::Tls) {
        QCOMPARE(truncatedSpy->count(), 0);
        QVERIFY(!static_cast<KeepAliveSslSocket &>(client).isCloseTruncated());
    }
}

// A TLS peer whose FIN comes without close_notify: Qt reports it as an
// orderly close; the data may have been cut short, and KeepAliveSslSocket
// says so (closeTruncated()), without calling it a dead peer.
void tst_DeadPeer::tlsCloseWithoutCloseNotify()
{
    m_server = makeServer(Transport::Tls);
    QVERIFY(listen(*m_server));
    KeepAliveSslSocket client;
    trustTestCertificate(client);
    QVERIFY(client.setKeepAliveOptions(shortOptions()));
    QTcpSocket *peer = connectPeer(*m_server, client);
    QVERIFY(peer);
    Watch watch(&client);
    QStringList events;
    connect(&client, &KeepAliveSslSocket::closeTruncated, this, [&] {
        events << QStringLiteral("closeTruncated");
        QVERIFY(client.isCloseTruncated());
        QCOMPARE(client.bytesAvailable(), qint64(peerPayload().size()));
    });
    connect(&client, &QAbstractSocket::disconnected, this,
            [&] { events << QStringLiteral("disconnected"); });
    QVERIFY(deliverPeerPayload(peer, client));

    // The peer's TCP connection ends under its TLS session.
    QCOMPARE(::shutdown(int(peer->socketDescriptor()), SHUT_WR), 0);

    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    // Telling the closes apart needs the TCP connection under TLS: not in
    // the public-API-only mode, where the header says it is never reported.
    const bool told = !publicApiOnly();
    QCOMPARE(events,
             told ? QStringList({QStringLiteral("closeTruncated"), QStringLiteral("disconnected")})
                  : QStringList({QStringLiteral("disconnected")}));
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(watch.errorSpy.count(), 1);
    QCOMPARE(watch.error, QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(watch.errorString, QStringLiteral("The remote host closed the connection"));
    QCOMPARE(watch.readAtDisconnected, peerPayload());
    QCOMPARE(client.isCloseTruncated(), told);
    QCOMPARE(client.deadPeerReason(), Reason::None);

    // The next connection starts untruncated, and its close_notify is orderly.
    peer = connectPeer(*m_server, client);
    QVERIFY(peer);
    QVERIFY(!client.isCloseTruncated());
    peer->disconnectFromHost();
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 2, 5000);
    QVERIFY(!client.isCloseTruncated());
    QCOMPARE(events.count(QStringLiteral("closeTruncated")), told ? 1 : 0);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
}

// KeepAliveSslSocket used the blocking way in a std::thread (no event
// dispatcher): the handshake, the peer's bytes and its silent death all met
// inside waitFor...() calls, reported as from an event loop.
void tst_DeadPeer::tlsInThreadWithoutEventLoop()
{
    m_server = makeServer(Transport::Tls);
    QVERIFY(listen(*m_server));
    const quint16 port = m_server->serverPort();
    struct Outcome
    {
        QString failure;
        QStringList events;
        QByteArray received;
        Reason reason = Reason::None;
        ConnectionHealth healthAtDeadPeer;
        QString errorString;
    } outcome;
    std::atomic<bool> encrypted{false};
    std::atomic<qsizetype> receivedSize{0};
    std::atomic<bool> done{false};
    std::thread thread([&] {
        KeepAliveSslSocket client;
        trustTestCertificate(client);
        client.setKeepAliveOptions(shortOptions());
        QObject::connect(&client, &KeepAliveSslSocket::deadPeer, [&](Reason reason) {
            outcome.events << QStringLiteral("deadPeer");
            outcome.reason = reason;
            outcome.healthAtDeadPeer = client.connectionHealth();
            outcome.received += client.readAll();
        });
        QObject::connect(&client, &QAbstractSocket::errorOccurred,
                         [&] { outcome.events << QStringLiteral("errorOccurred"); });
        QObject::connect(&client, &QAbstractSocket::disconnected,
                         [&] { outcome.events << QStringLiteral("disconnected"); });
        client.connectToHostEncrypted(TestAddress.toString(), port);
        if (!client.waitForEncrypted(10000)) {
            outcome.failure = QStringLiteral("no TLS session: %1").arg(client.errorString());
            done = true;
            return;
        }
        encrypted = true;
        const QDeadlineTimer deadline(int(boundMs()) + 15000);
        while (client.state() == QAbstractSocket::ConnectedState && !deadline.hasExpired()) {
            if (client.waitForReadyRead(int(deadline.remainingTime()))) {
                outcome.received += client.readAll();
                receivedSize = outcome.received.size();
            }
        }
        outcome.errorString = client.errorString();
        done = true;
    });
    const auto joined = qScopeGuard([&] { thread.join(); });

    QTRY_VERIFY_WITH_TIMEOUT(m_server->hasPendingConnections() || done, 10000);
    QVERIFY2(outcome.failure.isEmpty() || !done, qPrintable(outcome.failure));
    QTcpSocket *peer = m_server->nextPendingConnection();
    QVERIFY(peer);
    QTRY_VERIFY_WITH_TIMEOUT(encrypted || done, 10000);
    QCOMPARE(peer->write(peerPayload()), qint64(peerPayload().size()));
    // Everything the peer sends (its session tickets too) received and
    // acknowledged before it falls silent: a peer still handshaking holds
    // the payload in Qt's buffer, and what it sends after the silence is
    // retransmitted, each retransmission a sign of life for the client.
    const auto *tlsPeer = qobject_cast<QSslSocket *>(peer);
    QVERIFY(tlsPeer);
    QTRY_VERIFY_WITH_TIMEOUT(receivedSize == peerPayload().size() && tlsPeer->bytesToWrite() == 0
                                     && tlsPeer->encryptedBytesToWrite() == 0
                                     && unacknowledgedBytes(peer->socketDescriptor()) == 0,
                             5000);
    QVERIFY(silence(peer));
    QElapsedTimer sinceSilence;
    sinceSilence.start();
    QTRY_VERIFY_WITH_TIMEOUT(done, int(boundMs()) + 15000);
    const qint64 endedAfter = sinceSilence.elapsed();
    qInfo("TLS in a std::thread: the wait reported the death %lld ms after the silence, bound "
          "%lld ms",
          endedAfter, boundMs());

    QVERIFY2(outcome.failure.isEmpty(), qPrintable(outcome.failure));
    QCOMPARE(outcome.events,
             QStringList({QStringLiteral("deadPeer"), QStringLiteral("errorOccurred"),
                          QStringLiteral("disconnected")}));
    QCOMPARE(outcome.reason, Reason::KeepAliveTimeout);
    QCOMPARE(outcome.errorString, keepAliveTimeoutMessage());
    QCOMPARE(outcome.received, peerPayload());
    QCOMPARE(outcome.healthAtDeadPeer.state, ConnectionHealth::TcpState::Closed);
    QVERIFY2(outcome.healthAtDeadPeer.probes.value_or(0) >= 1,
             qPrintable(describe(outcome.healthAtDeadPeer)));
    QVERIFY2(endedAfter <= boundMs() + 1500, qPrintable(QString::number(endedAfter)));
}

// Unbuffered asked for a TLS connection: opened buffered (QSslSocket decrypts
// into its own buffer, and Qt 6.4 ends an Unbuffered inner connection
// silently), data flows and a death is still reported.
void tst_DeadPeer::tlsOpensBuffered()
{
    m_server = makeServer(Transport::Tls);
    QVERIFY(listen(*m_server));
    KeepAliveSslSocket client;
    trustTestCertificate(client);
    QVERIFY(client.setKeepAliveOptions(shortOptions()));
    client.connectToHostEncrypted(TestAddress.toString(), m_server->serverPort(),
                                  QIODevice::ReadWrite | QIODevice::Unbuffered);
    QTRY_VERIFY_WITH_TIMEOUT(m_server->hasPendingConnections() && client.isEncrypted(), 5000);
    QCOMPARE(client.openMode(), QIODevice::ReadWrite);
    QTcpSocket *peer = m_server->nextPendingConnection();
    Watch watch(&client);
    QVERIFY(deliverPeerPayload(peer, client));
    QString message;
    QVERIFY2(QtKeepAliveTesting::resetConnection(peer, &message), qPrintable(message));
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    verifyDeath(watch, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                resetMessage());
}

// The server side of TLS, as a server of the application's own makes it: a
// KeepAliveSslSocket adopts the accepted descriptor and starts the server
// handshake; a client that resets is a dead peer there, the bytes it sent
// readable.
void tst_DeadPeer::tlsServerSideAdoptsDescriptor()
{
    // What the application's incomingConnection() receives: the descriptor.
    class DescriptorServer : public QTcpServer
    {
    public:
        QList<qintptr> descriptors;

    protected:
        void incomingConnection(qintptr descriptor) override { descriptors << descriptor; }
    } server;
    QVERIFY(server.listen(TestAddress, 0));
    QSslSocket client;
    trustTestCertificate(client);
    client.connectToHostEncrypted(TestAddress.toString(), server.serverPort());
    QTRY_COMPARE_WITH_TIMEOUT(server.descriptors.size(), 1, 5000);
    const qintptr descriptor = server.descriptors.constFirst();
    KeepAliveSslSocket serverSide;
    QSslConfiguration configuration = serverSide.sslConfiguration();
    configuration.setLocalCertificate(TlsCredentials::instance().certificate);
    configuration.setPrivateKey(TlsCredentials::instance().key);
    serverSide.setSslConfiguration(configuration);
    QVERIFY(serverSide.setKeepAliveOptions(shortOptions()));
    QVERIFY(serverSide.setSocketDescriptor(descriptor));
    QCOMPARE(serverSide.effectiveKeepAliveOptions().userTimeout, 3000ms);
    serverSide.startServerEncryption();
    QTRY_VERIFY_WITH_TIMEOUT(serverSide.isEncrypted() && client.isEncrypted(), 5000);
    Watch watch(&serverSide);
    QVERIFY(deliverPeerPayload(&client, serverSide));
    QString message;
    QVERIFY2(QtKeepAliveTesting::resetConnection(&client, &message), qPrintable(message));
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    verifyDeath(watch, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                resetMessage());
}

// A failed handshake keeps Qt's meaning (SslHandshakeFailedError, Qt's
// message): the peer answered, it is no dead peer.
void tst_DeadPeer::tlsHandshakeFailureIsNoDeadPeer()
{
    m_server = makeServer(Transport::Tls);
    QVERIFY(listen(*m_server));
    KeepAliveSslSocket client; // trusts the system's CAs only: the test certificate is refused
    QVERIFY(client.setKeepAliveOptions(shortOptions()));
    QSslSocket reference;
    Watch watch(&client);
    QSignalSpy sslErrors(&client, &QSslSocket::sslErrors);
    QSignalSpy referenceErrors(&reference, &QAbstractSocket::errorOccurred);
    client.connectToHostEncrypted(TestAddress.toString(), m_server->serverPort());
    reference.connectToHostEncrypted(TestAddress.toString(), m_server->serverPort());
    QTRY_VERIFY_WITH_TIMEOUT(!watch.errorSpy.isEmpty() && !referenceErrors.isEmpty(), 5000);
    QTRY_COMPARE_WITH_TIMEOUT(client.state(), QAbstractSocket::UnconnectedState, 5000);
    QCOMPARE(sslErrors.count(), 1);
    QCOMPARE(watch.error, QAbstractSocket::SslHandshakeFailedError);
    QCOMPARE(watch.error, reference.error());
    QCOMPARE(client.errorString(), reference.errorString());
    QTest::qWait(500);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(client.deadPeerReason(), Reason::None);
    QVERIFY(!client.isCloseTruncated());
}

// Behind a SOCKS5 proxy, the options apply to the TCP connection to the
// proxy under TLS, and that connection's silent death is reported.
void tst_DeadPeer::tlsThroughSocksProxy()
{
    m_server = makeServer(Transport::Tls);
    QVERIFY(listen(*m_server));
    TestProxy proxy(QNetworkProxy::Socks5Proxy);
    QVERIFY(proxy.listen());
    KeepAliveSslSocket client;
    trustTestCertificate(client);
    client.setProxy(proxy.proxy());
    QVERIFY(client.setKeepAliveOptions(shortOptions()));
    QTcpSocket *peer = connectPeer(*m_server, client);
    QVERIFY(peer);
    QCOMPARE(proxy.clientSockets().size(), 1);
    QTcpSocket *proxySide = proxy.clientSockets().constFirst();
    if (!publicApiOnly())
        QCOMPARE(client.effectiveKeepAliveOptions().userTimeout, 3000ms);
    Watch watch(&client);
    peer->write(peerPayload());
    QTRY_COMPARE_WITH_TIMEOUT(client.bytesAvailable(), qint64(peerPayload().size()), 5000);
    // The proxy's last bytes acknowledged: its retransmissions would be signs of life.
    QTRY_COMPARE_WITH_TIMEOUT(unacknowledgedBytes(proxySide->socketDescriptor()), 0, 5000);
    watch.clock.start();
    QVERIFY(silence(proxySide));
    if (publicApiOnly()) {
        // As for a plain socket behind a proxy (tests/auto/socket/proxy): no
        // keepalive on the real connection, and Qt's proxy engines ignore its
        // timeout; the socket stays connected, as a QSslSocket does.
        QTest::qWait(int(boundMs()) + 2000);
        QCOMPARE(watch.deadPeerSpy.count(), 0);
        QCOMPARE(client.state(), QAbstractSocket::ConnectedState);
        return;
    }
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, int(boundMs()) + 5000);
    qInfo("TLS through SOCKS5, the proxy connection silent: deadPeer after %lld ms, bound %lld ms",
          watch.deadPeerAt, boundMs());
    QCOMPARE(watch.deadPeerSpy.count(), 1);
    QCOMPARE(watch.reasonArgument, Reason::KeepAliveTimeout);
    QCOMPARE(watch.errorStringAtDeadPeer, keepAliveTimeoutMessage());
    QCOMPARE(watch.events.first(), QStringLiteral("deadPeer"));
    QCOMPARE(watch.events.last(), QStringLiteral("disconnected"));
    QCOMPARE(watch.peekedAtDeadPeer, peerPayload());
    QCOMPARE(watch.readAtDisconnected, peerPayload());
    QVERIFY2(watch.deadPeerAt >= boundMs() * 9 / 10, qPrintable(QString::number(watch.deadPeerAt)));
    QVERIFY2(watch.deadPeerAt <= boundMs() + 1500, qPrintable(QString::number(watch.deadPeerAt)));
    // One error, the death's: the connection is ended under QSslSocket, which
    // therefore sends no close_notify into the dead proxy connection (that
    // would fail with a second errorOccurred(UnknownSocketError) over it).
    QCOMPARE(watch.events,
             QStringList({QStringLiteral("deadPeer"), QStringLiteral("errorOccurred"),
                          QStringLiteral("disconnected")}));
    QCOMPARE(watch.errorSpy.count(), 1);
    QCOMPARE(client.errorString(), keepAliveTimeoutMessage());
}

// Moved to a worker thread once encrypted: the death is seen and reported
// there, with the decrypted bytes readable in the handler.
void tst_DeadPeer::tlsAfterMoveToThread()
{
    m_server = makeServer(Transport::Tls);
    QVERIFY(listen(*m_server));
    QThread worker;
    worker.start();
    auto *client = new KeepAliveSslSocket;
    // Deleted in the thread it lives in, while that thread still runs.
    const auto stopped = qScopeGuard([&] {
        if (client->thread() == &worker)
            QMetaObject::invokeMethod(
                    client, [client] { delete client; }, Qt::BlockingQueuedConnection);
        else
            delete client;
        worker.quit();
        worker.wait();
    });
    trustTestCertificate(*client);
    QVERIFY(client->setKeepAliveOptions(shortOptions()));
    QTcpSocket *peer = connectPeer(*m_server, *client);
    QVERIFY(peer);
    std::atomic<bool> dead{false};
    QThread *deadIn = nullptr;
    Reason reason = Reason::None;
    QByteArray readAtDeath;
    connect(
            client, &KeepAliveSslSocket::deadPeer, client,
            [&, client](Reason why) {
                deadIn = QThread::currentThread();
                reason = why;
                readAtDeath = client->readAll();
                dead = true;
            },
            Qt::DirectConnection);
    QVERIFY(deliverPeerPayload(peer, *client));
    client->moveToThread(&worker);
    QVERIFY(silence(peer));
    QElapsedTimer sinceSilence;
    sinceSilence.start();
    QTRY_VERIFY_WITH_TIMEOUT(dead, int(boundMs()) + 5000);
    qInfo("TLS socket in a worker thread: deadPeer %lld ms after the silence",
          sinceSilence.elapsed());
    QCOMPARE(deadIn, &worker);
    QCOMPARE(reason, Reason::KeepAliveTimeout);
    QCOMPARE(readAtDeath, peerPayload());
    QVERIFY2(sinceSilence.elapsed() <= boundMs() + 1500,
             qPrintable(QString::number(sinceSilence.elapsed())));
}

void tst_DeadPeer::localClose_data()
{
    QTest::addColumn<Transport>("transport");
    QTest::addColumn<QString>("action");
    QTest::addColumn<bool>("peerSilent");
    for (Transport transport : {Transport::Plain, Transport::Tls}) {
        for (const char *action : {"abort", "close", "disconnectFromHost"}) {
            QTest::addRow("%s, %s, healthy peer", transportName(transport), action)
                    << transport << QString::fromLatin1(action) << false;
            QTest::addRow("%s, %s, silent peer", transportName(transport), action)
                    << transport << QString::fromLatin1(action) << true;
        }
    }
}

void tst_DeadPeer::localClose()
{
    QFETCH(QString, action);
    QFETCH(bool, peerSilent);
    QFETCH(Transport, transport);
    m_server = makeServer(transport);
    QVERIFY(listen(*m_server));
    const std::unique_ptr<QAbstractSocket> clientSocket = makeClient(transport);
    QAbstractSocket &client = *clientSocket;
    QVERIFY(setKeepAliveOptions(client, shortOptions()));
    QTcpSocket *peer = connectPeer(*m_server, client);
    QVERIFY(peer);
    Watch watch(&client);
    QVERIFY(deliverPeerPayload(peer, client));

    watch.clock.start();
    if (peerSilent) {
        // The peer is already dead, but the application closes first: within
        // the bound (the first probe has gone unanswered by then).
        QVERIFY(silence(peer));
        QTest::qWait(int(boundMs()) / 2);
        QCOMPARE(client.state(), QAbstractSocket::ConnectedState);
        QCOMPARE(watch.deadPeerSpy.count(), 0);
    }

    if (action == QLatin1String("abort"))
        client.abort();
    else if (action == QLatin1String("close"))
        client.close();
    else
        client.disconnectFromHost();
    QTRY_COMPARE_WITH_TIMEOUT(client.state(), QAbstractSocket::UnconnectedState, 2000);

    // A silent peer: past the bound as counted from the silence, with a margin.
    const qint64 until = peerSilent ? boundMs() + 1500 : 1000;
    QTest::qWait(int(std::max<qint64>(0, until - watch.clock.elapsed())));
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(watch.errorSpy.count(), 0);
    QVERIFY(!watch.events.contains(QStringLiteral("deadPeer")));
    QCOMPARE(deadPeerReasonOf(client), Reason::None);
}

void tst_DeadPeer::deathWhileQtIsNotReading_data()
{
    QTest::addColumn<Transport>("transport");
    QTest::addColumn<bool>("closing");
    for (Transport transport : {Transport::Plain, Transport::Tls}) {
        // The application has asked for an orderly close while data is still
        // queued: in ClosingState Qt only writes, it no longer reads.
        QTest::addRow("%s, disconnectFromHost with unsent data", transportName(transport))
                << transport << true;
        // The application's read buffer (setReadBufferSize()) is full: Qt
        // reads nothing more until the application does.
        QTest::addRow("%s, read buffer full", transportName(transport)) << transport << false;
    }
}

// A busy connection whose peer dies while Qt's read notifications are off.
// The kernel gives up after the user timeout as usual; a plain QTcpSocket
// then learns of it through its write path (the socket turns writable with
// an error), and so must KeepAliveSocket.
void tst_DeadPeer::deathWhileQtIsNotReading()
{
    QFETCH(bool, closing);
    QFETCH(Transport, transport);
    m_server = makeServer(transport);
    QVERIFY(listen(*m_server));
    const std::unique_ptr<QAbstractSocket> clientSocket = makeClient(transport);
    QAbstractSocket &client = *clientSocket;
    QVERIFY(setKeepAliveOptions(client, shortOptions()));
    if (!closing)
        client.setReadBufferSize(peerPayload().size());
    QTcpSocket *peer = connectPeer(*m_server, client);
    QVERIFY(peer);
    Watch watch(&client);
    QVERIFY(deliverPeerPayload(peer, client));

    QVERIFY(silence(peer));
    watch.clock.start();
    // More than the kernel takes: the rest stays queued in Qt, which waits
    // for the socket to become writable.
    const QByteArray data(8 * 1024 * 1024, 'x');
    QCOMPARE(client.write(data), qint64(data.size()));
    QTest::qWait(100);
    QVERIFY(queuedBytes(client) > 0);
    if (closing) {
        client.disconnectFromHost();
        QCOMPARE(client.state(), QAbstractSocket::ClosingState);
    }

    const bool ended = QTest::qWaitFor([&] { return !watch.disconnectedSpy.isEmpty(); },
                                       int(boundMs()) + 5000);
    if (!ended)
        qInfo("still %s %lld ms after the peer fell silent, %lld bytes queued; kernel: %s",
              QMetaEnum::fromType<QAbstractSocket::SocketState>().valueToKey(client.state()),
              watch.clock.elapsed(), queuedBytes(client),
              qPrintable(describe(connectionHealthOf(client))));
    QVERIFY2(ended, "neither errorOccurred() nor disconnected() after the kernel gave up");
    qInfo("peer died while Qt was not reading: disconnected after %lld ms, events %s",
          watch.disconnectedAt, qPrintable(watch.events.join(QLatin1String(", "))));
    QVERIFY2(watch.disconnectedAt <= boundMs() + 1500,
             qPrintable(QString::number(watch.disconnectedAt)));
    if (closing) {
        // The application's close did not end this connection, the peer's
        // death did, and the queued data was lost: Qt's error is due. Whether
        // that also counts as a dead peer is the library's choice, but at
        // most once and before disconnected().
        QCOMPARE(watch.errorSpy.count(), 1);
        QCOMPARE(watch.disconnectedSpy.count(), 1);
        QCOMPARE(client.state(), QAbstractSocket::UnconnectedState);
        QVERIFY(watch.deadPeerSpy.count() <= 1);
        if (!watch.deadPeerSpy.isEmpty()) {
            QCOMPARE(watch.reasonArgument, Reason::RetransmissionTimeout);
            QCOMPARE(watch.events.first(), QStringLiteral("deadPeer"));
        }
    } else if (DeadPeerTest::publicApiOnly()) {
        // Public API only: nothing keeps Qt's write path from meeting the
        // death first; the death is reported from the kernel's counters, but
        // Qt's abort() drops what it held (README, "Platform support").
        QCOMPARE(watch.deadPeerSpy.count(), 1);
        QCOMPARE(watch.reasonArgument, Reason::RetransmissionTimeout);
        QCOMPARE(watch.events.first(), QStringLiteral("deadPeer"));
        QCOMPARE(watch.errorStringAtDeadPeer, retransmissionTimeoutMessage());
        QCOMPARE(client.state(), QAbstractSocket::UnconnectedState);
    } else {
        verifyDeath(watch, Reason::RetransmissionTimeout, QAbstractSocket::SocketTimeoutError,
                    retransmissionTimeoutMessage());
        if (QTest::currentTestFailed())
            return;
        QVERIFY2(watch.deadPeerAt >= boundMs() * 9 / 10,
                 qPrintable(QString::number(watch.deadPeerAt)));
    }
}

void tst_DeadPeer::slowReaderIsNotDead_data()
{
    QTest::addColumn<Transport>("transport");
    QTest::addColumn<bool>("readsFirst");
    for (Transport transport : {Transport::Plain, Transport::Tls}) {
        // The peer's window closes with the first bytes we send.
        QTest::addRow("%s, peer never reads", transportName(transport)) << transport << false;
        // The peer reads our stream for a while, then stops: the stall
        // begins while the library is already watching the outstanding data.
        QTest::addRow("%s, peer stops reading mid-stream", transportName(transport))
                << transport << true;
    }
}

void tst_DeadPeer::slowReaderIsNotDead()
{
    QFETCH(bool, readsFirst);
    QFETCH(Transport, transport);
    QTcpSocket *peer = nullptr;
    const std::unique_ptr<QAbstractSocket> clientSocket = slowReaderClient(transport, peer);
    QVERIFY(clientSocket);
    QAbstractSocket &client = *clientSocket;
    // The automatic user timeout (3 s) that, left alone, kills a slow reader.
    QCOMPARE(effectiveOptionsOf(client).userTimeout, 3000ms);
    Watch watch(&client);
    QVERIFY(deliverPeerPayload(peer, client));

    // The client keeps writing, up to 1 MiB queued in Qt on top of what the
    // kernel holds: far more than the peer's buffers take.
    const QByteArray chunk(256 * 1024, 'x');
    QTimer writer;
    connect(&writer, &QTimer::timeout, &client, [&] {
        if (client.state() == QAbstractSocket::ConnectedState && queuedBytes(client) < 1 << 20)
            client.write(chunk);
    });
    writer.start(5);
    if (readsFirst) {
        peer->setReadBufferSize(0);
        qint64 received = 0;
        const auto reading = connect(peer, &QIODevice::readyRead, peer,
                                     [&] { received += peer->readAll().size(); });
        QTest::qWait(2000);
        disconnect(reading);
        peer->setReadBufferSize(1024);
        QVERIFY(received > 1 << 20);
    }

    // The peer's window closes and stays closed; its kernel keeps answering
    // our window probes.
    QElapsedTimer stall;
    stall.start();
    QTRY_VERIFY_WITH_TIMEOUT(stalledOnZeroWindow(client), 5000);
    const qint64 stalledAfter = stall.elapsed();
    // The kernel's send buffer grows for a while into the stall (to 4 MiB
    // here), and with TLS Qt hands it what it encrypted a little later. The
    // stall is held once the kernel's queue has stopped growing and Qt keeps
    // a chunk it does not take.
    {
        qint64 previousNotSent = -1;
        bool full = false;
        QElapsedTimer settling;
        settling.start();
        while (!full && settling.elapsed() < 10000) {
            QTest::qWait(250);
            const qint64 notSent = connectionHealthOf(client).notSentBytes.value_or(-1);
            full = notSent > 0 && notSent == previousNotSent && queuedBytes(client) >= chunk.size();
            previousNotSent = notSent;
        }
        QVERIFY2(full, qPrintable(describe(connectionHealthOf(client))));
    }

    // Hold the stall for three times the bound: connected, no error, the send
    // side stuck on the closed window throughout.
    QElapsedTimer hold;
    hold.start();
    qint64 longestAckAge = 0;
    milliseconds largestUserTimeout = 0ms;
    while (hold.elapsed() < 3 * boundMs()) {
        QTest::qWait(100);
        QCOMPARE(client.state(), QAbstractSocket::ConnectedState);
        QCOMPARE(watch.deadPeerSpy.count(), 0);
        QCOMPARE(watch.errorSpy.count(), 0);
        QVERIFY(stalledOnZeroWindow(client));
        // Still a chunk queued in Qt: the writer tops up below 1 MiB, and
        // whatever the kernel took between two of its ticks (a window probe
        // answered with a few bytes of window) is no end of the stall.
        QVERIFY(queuedBytes(client) >= chunk.size());
        const ConnectionHealth health = connectionHealthOf(client);
        longestAckAge =
                std::max<qint64>(longestAckAge, health.sinceLastAckReceived.value_or(0ms).count());
        largestUserTimeout =
                std::max(largestUserTimeout, effectiveOptionsOf(client).userTimeout.value_or(0ms));
    }
    const ConnectionHealth held = connectionHealthOf(client);
    QCOMPARE(held.state, ConnectionHealth::TcpState::Established);
    QCOMPARE(peer->state(), QAbstractSocket::ConnectedState);
    qInfo("slow reader: stalled after %lld ms, held %lld ms connected; longest ACK age %lld ms, "
          "largest user timeout %lld ms; %s",
          stalledAfter, hold.elapsed(), longestAckAge, qint64(largestUserTimeout.count()),
          qPrintable(describe(held)));

    // The same peer now dies during the stall, right after it answered a
    // window probe: the guard has just pushed the kernel's deadline on.
    QVERIFY(waitForFreshAck(client, 3 * boundMs()));
    const ConnectionHealth lastAnswer = connectionHealthOf(client);
    QVERIFY(silence(peer));
    watch.clock.start();
    // The bound the slow-reader guard is designed for: a peer that stops
    // answering during a stall is reported within about twice the bound
    // plus two seconds of the last answer.
    const qint64 upperBound = 2 * boundMs() + 2000;
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, int(upperBound) + 10000);
    qInfo("slow reader gone silent: deadPeer after %lld ms (design bound %lld ms); silenced at %s",
          watch.deadPeerAt, upperBound, qPrintable(describe(lastAnswer)));
    verifyDeath(watch, Reason::RetransmissionTimeout, QAbstractSocket::SocketTimeoutError,
                stalledPeerMessage());
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(watch.deadPeerAt <= upperBound, qPrintable(QString::number(watch.deadPeerAt)));
}

void tst_DeadPeer::slowReaderPausingAroundTheBound_data()
{
    QTest::addColumn<Transport>("transport");
    QTest::addColumn<qint64>("pauseMs");
    // A reader that stops for about the bound and then reads again: the
    // stall, the peer's answers to our probes and the end of the stall all
    // come where a silent peer's death would (the guard's pull-in of the
    // kernel's end must never apply to a peer that answers).
    for (qint64 pause : {boundMs() - 300, boundMs(), boundMs() + 300})
        QTest::addRow("plain, pause %lld ms", pause) << Transport::Plain << pause;
    QTest::addRow("tls, pause %lld ms", boundMs()) << Transport::Tls << boundMs();
}

void tst_DeadPeer::slowReaderPausingAroundTheBound()
{
    QFETCH(Transport, transport);
    QFETCH(qint64, pauseMs);
    QTcpSocket *peer = nullptr;
    const std::unique_ptr<QAbstractSocket> clientSocket = slowReaderClient(transport, peer);
    QVERIFY(clientSocket);
    QAbstractSocket &client = *clientSocket;
    Watch watch(&client);

    // A numbered stream: every byte is checked where it arrives.
    constexpr qint64 Total = 24 << 20;
    qint64 sent = 0;
    QTimer writer;
    connect(&writer, &QTimer::timeout, &client, [&] {
        while (client.state() == QAbstractSocket::ConnectedState && sent < Total
               && queuedBytes(client) < 1 << 20) {
            QByteArray chunk(64 * 1024, Qt::Uninitialized);
            for (qsizetype i = 0; i < chunk.size(); ++i)
                chunk[i] = char((sent + i) % 251);
            sent += client.write(chunk);
        }
    });
    writer.start(5);
    qint64 received = 0;
    bool intact = true;
    const auto read = [&] {
        const QByteArray data = peer->readAll();
        for (qsizetype i = 0; i < data.size() && intact; ++i)
            intact = data[i] == char((received + i) % 251);
        received += data.size();
    };
    peer->setReadBufferSize(0);
    auto reading = connect(peer, &QIODevice::readyRead, peer, read);
    QTRY_VERIFY_WITH_TIMEOUT(received > 2 << 20, 10000);

    // The pause: Qt reads 1 KiB more for the peer, its kernel fills and
    // closes the window.
    disconnect(reading);
    peer->setReadBufferSize(1024);
    QElapsedTimer pause;
    pause.start();
    QTRY_VERIFY_WITH_TIMEOUT(stalledOnZeroWindow(client), 5000);
    const qint64 stalledAfter = pause.elapsed();
    while (pause.elapsed() < pauseMs) {
        QTest::qWait(20);
        QCOMPARE(watch.deadPeerSpy.count(), 0);
        QCOMPARE(client.state(), QAbstractSocket::ConnectedState);
    }

    // Reading again: the whole stream arrives, in order, on a connection
    // that never reported anything.
    peer->setReadBufferSize(0);
    reading = connect(peer, &QIODevice::readyRead, peer, read);
    read();
    QTRY_VERIFY_WITH_TIMEOUT(received == Total, 60000);
    qInfo("paused %lld ms (stalled after %lld ms): %lld bytes received intact", pauseMs,
          stalledAfter, received);
    QVERIFY(intact);
    QCOMPARE(sent, Total);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(watch.errorSpy.count(), 0);
    QCOMPARE(client.state(), QAbstractSocket::ConnectedState);
}

// Applying options during a stall restores the kernel's user timeout; the
// guard must take the stall up again although nothing more is written (no
// bytesWritten() to wake it), or the kernel kills the live peer at once.
void tst_DeadPeer::slowReaderSurvivesOptionsReappliedMidStall()
{
    QFETCH(Transport, transport);
    QTcpSocket *peer = nullptr;
    const std::unique_ptr<QAbstractSocket> clientSocket = slowReaderClient(transport, peer);
    QVERIFY(clientSocket);
    QAbstractSocket &client = *clientSocket;
    Watch watch(&client);
    // One write, far more than the peer's buffers take; then nothing.
    client.write(QByteArray(8 << 20, 'x'));
    QTRY_VERIFY_WITH_TIMEOUT(stalledOnZeroWindow(client), 5000);
    // Let the stall outlast the user timeout first, so that a restored
    // TCP_USER_TIMEOUT would end the connection at the next window probe.
    QTest::qWait(int(boundMs()) + 500);
    QCOMPARE(client.state(), QAbstractSocket::ConnectedState);

    QVERIFY(setKeepAliveOptions(client, KeepAliveOptions(shortOptions()).setProbeCount(2)));
    QElapsedTimer hold;
    hold.start();
    while (hold.elapsed() < 3 * boundMs()) {
        QTest::qWait(100);
        QCOMPARE(client.state(), QAbstractSocket::ConnectedState);
        QCOMPARE(watch.deadPeerSpy.count(), 0);
        QCOMPARE(watch.errorSpy.count(), 0);
        QVERIFY(stalledOnZeroWindow(client));
    }
    QCOMPARE(peer->state(), QAbstractSocket::ConnectedState);
}

void tst_DeadPeer::pausingReaderSurvivesShortUserTimeout_data()
{
    QTest::addColumn<milliseconds>("userTimeout");
    // The shortest explicit user timeout KeepAliveOptions accepts.
    QTest::newRow("explicit 1 s") << milliseconds(1s);
}

// A live peer that reads our stream, pauses reading for 5 s while we keep
// sending, then reads on: the pause is a zero-window stall five times the
// user timeout, which the slow-reader guard must bridge.
void tst_DeadPeer::pausingReaderSurvivesShortUserTimeout()
{
    QFETCH(milliseconds, userTimeout);
    constexpr qint64 pauseMs = 5000;
    m_server = std::make_unique<QTcpServer>();
    KeepAliveSocket client;
    QVERIFY(client.setKeepAliveOptions(
            KeepAliveOptions(shortOptions()).setUserTimeout(userTimeout)));
    QTcpSocket *peer = startSlowReader(*m_server, client);
    QVERIFY(peer);
    QCOMPARE(client.effectiveKeepAliveOptions().userTimeout, userTimeout);
    Watch watch(&client);
    QVERIFY(deliverPeerPayload(peer, client));

    const QByteArray chunk(256 * 1024, 'x');
    QTimer writer;
    connect(&writer, &QTimer::timeout, &client, [&] {
        if (client.state() == QAbstractSocket::ConnectedState && client.bytesToWrite() < 1 << 20)
            client.write(chunk);
    });
    writer.start(5);
    qint64 received = 0;
    auto read = [&] { received += peer->readAll().size(); };
    peer->setReadBufferSize(0);
    auto reading = connect(peer, &QIODevice::readyRead, peer, read);
    QTest::qWait(1000);
    QVERIFY(received > 1 << 20);

    // The pause: the peer's window closes and stays closed for 5 s.
    disconnect(reading);
    peer->setReadBufferSize(1024);
    QElapsedTimer pause;
    pause.start();
    QTRY_VERIFY_WITH_TIMEOUT(stalledOnZeroWindow(client), 5000);
    const qint64 stalledAfter = pause.elapsed();
    qint64 longestAckAge = 0;
    milliseconds largestUserTimeout = 0ms;
    while (pause.elapsed() < stalledAfter + pauseMs) {
        QTest::qWait(100);
        QCOMPARE(client.state(), QAbstractSocket::ConnectedState);
        QCOMPARE(watch.deadPeerSpy.count(), 0);
        QCOMPARE(watch.errorSpy.count(), 0);
        QVERIFY(stalledOnZeroWindow(client));
        const ConnectionHealth health = client.connectionHealth();
        longestAckAge =
                std::max<qint64>(longestAckAge, health.sinceLastAckReceived.value_or(0ms).count());
        largestUserTimeout = std::max(largestUserTimeout,
                                      client.effectiveKeepAliveOptions().userTimeout.value_or(0ms));
    }
    const qint64 pausedFor = pause.elapsed();

    // Reading on: the same connection carries the stream again.
    const qint64 receivedBeforeResuming = received;
    QElapsedTimer resume;
    resume.start();
    peer->setReadBufferSize(0);
    reading = connect(peer, &QIODevice::readyRead, peer, read);
    read();
    QTRY_VERIFY_WITH_TIMEOUT(received - receivedBeforeResuming > 1 << 20, 5000);
    const qint64 flowingAfter = resume.elapsed();
    writer.stop();
    QCOMPARE(client.state(), QAbstractSocket::ConnectedState);
    QCOMPARE(peer->state(), QAbstractSocket::ConnectedState);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(watch.errorSpy.count(), 0);
    QCOMPARE(client.deadPeerReason(), Reason::None);
    qInfo("pausing reader, user timeout %lld ms: stalled %lld ms into the pause, paused %lld ms "
          "(zero window %lld ms) connected; longest ACK age %lld ms, largest user timeout %lld ms; "
          "1 MiB more read %lld ms after resuming",
          qint64(userTimeout.count()), stalledAfter, pausedFor, pausedFor - stalledAfter,
          longestAckAge, qint64(largestUserTimeout.count()), flowingAfter);
}

// The control for slowReaderIsNotDead(): what the kernel does to a plain
// QTcpSocket with the same settings set by hand, TCP_USER_TIMEOUT included,
// in the same stall. It is killed although the peer is alive and answering.
void tst_DeadPeer::slowReaderKillsPlainSocketWithUserTimeout()
{
    m_server = std::make_unique<QTcpServer>();
    QTcpSocket client;
    QTcpSocket *peer = startSlowReader(*m_server, client);
    QVERIFY(peer);
    const qintptr descriptor = client.socketDescriptor();
    QVERIFY(setIntOption(descriptor, SOL_SOCKET, SO_KEEPALIVE, 1));
    QVERIFY(setIntOption(descriptor, IPPROTO_TCP, TCP_KEEPIDLE, 1));
    QVERIFY(setIntOption(descriptor, IPPROTO_TCP, TCP_KEEPINTVL, 1));
    QVERIFY(setIntOption(descriptor, IPPROTO_TCP, TCP_KEEPCNT, 2));
    QVERIFY(setIntOption(descriptor, IPPROTO_TCP, TCP_USER_TIMEOUT, int(boundMs())));
    QSignalSpy errorSpy(&client, &QAbstractSocket::errorOccurred);
    QSignalSpy disconnectedSpy(&client, &QAbstractSocket::disconnected);

    // The kernel's view until the end (Qt closes the descriptor when it
    // reports the error, so the last sample is taken just before).
    tcp_info lastSeen{};
    QTimer sampler;
    sampler.setTimerType(Qt::PreciseTimer);
    connect(&sampler, &QTimer::timeout, &client, [&] {
        if (client.state() == QAbstractSocket::ConnectedState && errorSpy.isEmpty())
            lastSeen = tcpInfo(descriptor);
    });
    sampler.start(20);

    const QByteArray data(4 * 1024 * 1024, 'x');
    QElapsedTimer stall;
    stall.start();
    QCOMPARE(client.write(data), qint64(data.size()));
    QTRY_VERIFY_WITH_TIMEOUT(
            tcpInfo(descriptor).tcpi_unacked == 0 && unacknowledgedBytes(descriptor) > 0, 5000);
    const qint64 stalledAfter = stall.elapsed();

    QTRY_COMPARE_WITH_TIMEOUT(disconnectedSpy.count(), 1, int(3 * boundMs()));
    const qint64 killedAfter = stall.elapsed();
    QCOMPARE(errorSpy.count(), 1);
    const auto error = errorSpy.at(0).at(0).value<QAbstractSocket::SocketError>();
    qInfo("plain socket, TCP_USER_TIMEOUT %lld ms, live slow reader: stalled after %lld ms, "
          "killed after %lld ms with %s \"%s\"; last TCP_INFO: state %u, unacked %u, probes %u, "
          "backoff %u, last ACK %u ms ago",
          boundMs(), stalledAfter, killedAfter,
          QMetaEnum::fromType<QAbstractSocket::SocketError>().valueToKey(error),
          qPrintable(client.errorString()), unsigned(lastSeen.tcpi_state),
          unsigned(lastSeen.tcpi_unacked), unsigned(lastSeen.tcpi_probes),
          unsigned(lastSeen.tcpi_backoff), unsigned(lastSeen.tcpi_last_ack_recv));
    // Killed by the user timeout, counted from the first window probe.
    QVERIFY2(killedAfter >= boundMs() * 9 / 10, qPrintable(QString::number(killedAfter)));
    // Until then the connection was stalled on a closed window (nothing in
    // flight) and the peer was answering the window probes.
    QCOMPARE(unsigned(lastSeen.tcpi_state), unsigned(TCP_ESTABLISHED));
    QCOMPARE(unsigned(lastSeen.tcpi_unacked), 0u);
    QVERIFY2(lastSeen.tcpi_last_ack_recv < boundMs(),
             qPrintable(QString::number(lastSeen.tcpi_last_ack_recv)));
    // The peer never failed: it was reading nothing, but it was there.
    QCOMPARE(peer->state(), QAbstractSocket::ConnectedState);
}

// The application's own disconnectFromHost() with data queued, to a live
// reader that pauses for three bounds at a time: the connection stays up while
// Qt holds data (the guard serves the slow reader), then Qt closes the
// descriptor once its buffers are empty and the kernel sends the rest on its
// own, as for a QTcpSocket. The user timeout must be gone by then: left on
// the orphaned connection, it ends the probing of the closed window after the
// bound with a reset (as slowReaderKillsPlainSocketWithUserTimeout() shows),
// and the reader loses the rest. More is written than the kernel takes: the
// last bytes leave Qt long after the close began (with TLS, from the inner
// socket).
void tst_DeadPeer::closeServesSlowReaderToTheEnd()
{
    QFETCH(Transport, transport);
    QTcpSocket *peer = nullptr;
    const std::unique_ptr<QAbstractSocket> clientSocket = slowReaderClient(transport, peer);
    QVERIFY(clientSocket);
    QAbstractSocket &client = *clientSocket;
    QCOMPARE(effectiveOptionsOf(client).userTimeout, 3000ms);
    Watch watch(&client);
    // Read by the client: what the peer sent (with TLS 1.3, its session
    // tickets too) is not left unread at the close, which would reset.
    QVERIFY(deliverPeerPayload(peer, client));

    QByteArray data(12 << 20, Qt::Uninitialized);
    for (int i = 0; i < data.size(); ++i)
        data[i] = char((i * 11 + 7) & 0xff);
    QCOMPARE(client.write(data), qint64(data.size()));
    client.disconnectFromHost();
    // Still queued in Qt: the close waits for its buffers to empty.
    QCOMPARE(client.state(), QAbstractSocket::ClosingState);
    QVERIFY(queuedBytes(client) > 0);

    QByteArray received;
    const auto pause = [&] {
        QElapsedTimer paused;
        paused.start();
        while (paused.elapsed() < 3 * boundMs()) {
            QTest::qWait(100);
            QCOMPARE(watch.deadPeerSpy.count(), 0);
            QCOMPARE(watch.errorSpy.count(), 0);
        }
    };
    // Reads until the client has handed everything to its kernel.
    const auto readUntilClosed = [&] {
        peer->setReadBufferSize(0);
        const auto reading =
                connect(peer, &QIODevice::readyRead, peer, [&] { received += peer->readAll(); });
        received += peer->readAll();
        QTRY_COMPARE_WITH_TIMEOUT(client.state(), QAbstractSocket::UnconnectedState, 20000);
        disconnect(reading);
        peer->setReadBufferSize(1024);
    };
    pause();
    QVERIFY(!QTest::currentTestFailed());
    readUntilClosed();
    QVERIFY(!QTest::currentTestFailed());
    pause();
    QVERIFY(!QTest::currentTestFailed());

    received += readUntilPeerClosed(peer, 30000);
    QCOMPARE(received.size(), data.size());
    QVERIFY(received == data);
    QCOMPARE(peer->error(), QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(watch.disconnectedSpy.count(), 1);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(watch.errorSpy.count(), 0);
}

void tst_DeadPeer::fiftyOfTwoHundredPeersDie()
{
    constexpr int Connections = 200;
    constexpr int Dying = 50;
    m_server = std::make_unique<QTcpServer>();
    QVERIFY(listen(*m_server));

    // Peers echo, keyed by the client's port.
    QHash<quint16, QTcpSocket *> peers;
    QObject context; // ends the connection below with this function
    connect(m_server.get(), &QTcpServer::newConnection, &context, [&] {
        while (QTcpSocket *peer = m_server->nextPendingConnection()) {
            peers.insert(peer->peerPort(), peer);
            connect(peer, &QIODevice::readyRead, peer, [peer] { peer->write(peer->readAll()); });
        }
    });

    std::vector<std::unique_ptr<KeepAliveSocket>> clients;
    std::vector<std::unique_ptr<Watch>> watches;
    for (int i = 0; i < Connections; ++i) {
        auto client = std::make_unique<KeepAliveSocket>();
        QVERIFY(client->setKeepAliveOptions(shortOptions()));
        client->connectToHost(TestAddress, m_server->serverPort());
        watches.push_back(std::make_unique<Watch>(client.get()));
        clients.push_back(std::move(client));
    }
    const auto allConnected = [&] {
        return peers.size() == Connections
                && std::all_of(clients.begin(), clients.end(), [](const auto &client) {
                       return client->state() == QAbstractSocket::ConnectedState;
                   });
    };
    QTRY_VERIFY_WITH_TIMEOUT(allConnected(), 20000);

    // Every connection works.
    const auto echoes = [&](const QByteArray &message, const QSet<quint16> &ports) {
        for (const auto &client : clients) {
            if (ports.contains(client->localPort()))
                client->write(message);
        }
        return QTest::qWaitFor(
                [&] {
                    return std::all_of(clients.begin(), clients.end(), [&](const auto &client) {
                        return !ports.contains(client->localPort())
                                || client->bytesAvailable() == message.size();
                    });
                },
                10000);
    };
    QSet<quint16> allPorts;
    for (const auto &client : clients)
        allPorts.insert(client->localPort());
    QCOMPARE(allPorts.size(), Connections);
    QVERIFY(echoes("ping", allPorts));
    for (const auto &client : clients)
        QCOMPARE(client->readAll(), QByteArray("ping"));

    // Every fourth peer sends its last bytes and, once they are acknowledged,
    // falls silent; all 50 at once.
    QSet<quint16> dying;
    for (int i = 0; i < Connections; i += Connections / Dying)
        dying.insert(clients[size_t(i)]->localPort());
    QCOMPARE(dying.size(), Dying);
    QElapsedTimer lastTraffic;
    lastTraffic.start();
    for (quint16 port : dying) {
        peers.value(port)->write(peerPayload());
        peers.value(port)->flush();
    }
    for (const auto &watch : watches)
        watch->clock = lastTraffic;
    QTRY_VERIFY_WITH_TIMEOUT(
            std::all_of(dying.begin(), dying.end(),
                        [&](quint16 port) {
                            return unacknowledgedBytes(peers.value(port)->socketDescriptor()) == 0;
                        }),
            5000);
    const qint64 silencedAt = lastTraffic.elapsed();
    for (quint16 port : dying)
        QVERIFY(silence(peers.value(port)));

    const auto disconnected = [&] {
        return int(std::count_if(watches.begin(), watches.end(), [](const auto &watch) {
            return !watch->disconnectedSpy.isEmpty();
        }));
    };
    QTRY_VERIFY_WITH_TIMEOUT(disconnected() >= Dying, int(boundMs()) + 8000);
    // Long enough for any straggler among the others to show.
    QTest::qWait(2000);
    QCOMPARE(disconnected(), Dying);

    // Exactly those 50 (by the client's port, taken in the deadPeer() handler:
    // Qt forgets it on disconnect), each once, for the same reason and within
    // the window from their last traffic.
    QSet<quint16> reportedPorts;
    QSet<quint16> alivePorts;
    qint64 first = std::numeric_limits<qint64>::max();
    qint64 last = 0;
    for (size_t i = 0; i < clients.size(); ++i) {
        Watch &watch = *watches[i];
        if (watch.deadPeerSpy.isEmpty()) {
            QCOMPARE(clients[i]->state(), QAbstractSocket::ConnectedState);
            QCOMPARE(watch.errorSpy.count(), 0);
            QCOMPARE(watch.disconnectedSpy.count(), 0);
            QCOMPARE(clients[i]->deadPeerReason(), Reason::None);
            alivePorts.insert(clients[i]->localPort());
            continue;
        }
        reportedPorts.insert(watch.localPortAtDeadPeer);
        first = std::min(first, watch.deadPeerAt);
        last = std::max(last, watch.deadPeerAt);
    }
    qInfo("%d of %d peers silenced %lld ms after their last bytes: deadPeer between %lld and "
          "%lld ms after the last traffic, bound %lld ms",
          Dying, Connections, silencedAt, first, last, boundMs());
    QCOMPARE(reportedPorts, dying);
    QCOMPARE(alivePorts.size(), Connections - Dying);
    QCOMPARE(alivePorts | dying, allPorts);
    for (const auto &watch : watches) {
        if (watch->deadPeerSpy.isEmpty())
            continue;
        verifyDeath(*watch, Reason::KeepAliveTimeout, QAbstractSocket::SocketTimeoutError,
                    keepAliveTimeoutMessage(), Settle::AlreadyWaited);
        if (QTest::currentTestFailed())
            return;
        QVERIFY2(watch->deadPeerAt >= boundMs() * 9 / 10,
                 qPrintable(QString::number(watch->deadPeerAt)));
        QVERIFY2(watch->deadPeerAt <= boundMs() + 3000,
                 qPrintable(QString::number(watch->deadPeerAt)));
    }

    // The other 150 still work.
    QVERIFY(echoes("still here", alivePorts));
    for (const auto &client : clients) {
        if (alivePorts.contains(client->localPort()))
            QCOMPARE(client->readAll(), QByteArray("still here"));
    }
}

void tst_DeadPeer::reasonKeptAfterDisconnect()
{
    QFETCH(Transport, transport);
    m_server = makeServer(transport);
    QVERIFY(listen(*m_server));
    const std::unique_ptr<QAbstractSocket> clientSocket = makeClient(transport);
    QAbstractSocket &client = *clientSocket;
    QVERIFY(setKeepAliveOptions(client, shortOptions()));
    QCOMPARE(deadPeerReasonOf(client), Reason::None);

    {
        QTcpSocket *peer = connectPeer(*m_server, client);
        QVERIFY(peer);
        Watch watch(&client);
        QVERIFY(deliverPeerPayload(peer, client));
        QVERIFY(QtKeepAliveTesting::resetConnection(peer));
        QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
        verifyDeath(watch, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                    resetMessage());
        if (QTest::currentTestFailed())
            return;
    }
    QTest::qWait(1000);
    QCOMPARE(client.state(), QAbstractSocket::UnconnectedState);
    QCOMPARE(deadPeerReasonOf(client), Reason::ConnectionReset);
    QCOMPARE(client.errorString(), resetMessage());
    QCOMPARE(client.error(), QAbstractSocket::RemoteHostClosedError);

    // The same socket, reconnected: the options apply again and the next
    // death replaces the reason and the message.
    {
        QTcpSocket *peer = connectPeer(*m_server, client);
        QVERIFY(peer);
        QCOMPARE(effectiveOptionsOf(client).idle, 1000ms);
        QCOMPARE(effectiveOptionsOf(client).userTimeout, 3000ms);
        Watch watch(&client);
        watch.clock.start();
        QVERIFY(deliverPeerPayload(peer, client));
        QVERIFY(silence(peer));
        QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, int(boundMs()) + 5000);
        verifyDeath(watch, Reason::KeepAliveTimeout, QAbstractSocket::SocketTimeoutError,
                    keepAliveTimeoutMessage());
        if (QTest::currentTestFailed())
            return;
        QVERIFY2(watch.deadPeerAt <= boundMs() + 1000,
                 qPrintable(QString::number(watch.deadPeerAt)));
    }
    QTest::qWait(1000);
    QCOMPARE(deadPeerReasonOf(client), Reason::KeepAliveTimeout);
    QCOMPARE(client.errorString(), keepAliveTimeoutMessage());
    QCOMPARE(client.error(), QAbstractSocket::SocketTimeoutError);
}

QTEST_GUILESS_MAIN(tst_DeadPeer)
// Qt's own waitForReadyRead() timeout emits errorOccurred(SocketTimeoutError)
// on a healthy, still connected socket: that is no dead peer.
void tst_DeadPeer::blockingWaitTimeoutIsNotDeath()
{
    QFETCH(Transport, transport);
    m_server = makeServer(transport);
    QVERIFY(listen(*m_server));
    const std::unique_ptr<QAbstractSocket> clientSocket = makeClient(transport);
    QAbstractSocket &client = *clientSocket;
    QVERIFY(setKeepAliveOptions(client, shortOptions()));
    QTcpSocket *peer = connectPeer(*m_server, client);
    QVERIFY(peer);
    Watch watch(&client);
    QVERIFY(!client.waitForReadyRead(200));
    QCOMPARE(watch.errorSpy.count(), 1);
    QCOMPARE(client.error(), QAbstractSocket::SocketTimeoutError);
    QCOMPARE(client.state(), QAbstractSocket::ConnectedState);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(deadPeerReasonOf(client), Reason::None);
    // And the connection still works.
    peer->write("ping");
    QVERIFY(peer->waitForBytesWritten(5000)); // no event loop runs during the client's wait
    QVERIFY(client.waitForReadyRead(5000));
    QCOMPARE(client.readAll(), QByteArray("ping"));
}

// A blocking wait bypasses the notifiers the library watches; a keepalive
// death is still reported (from Qt's error code), once, before disconnected().
void tst_DeadPeer::deathSeenThroughBlockingWait()
{
    QFETCH(Transport, transport);
    m_server = makeServer(transport);
    QVERIFY(listen(*m_server));
    const std::unique_ptr<QAbstractSocket> clientSocket = makeClient(transport);
    QAbstractSocket &client = *clientSocket;
    QVERIFY(setKeepAliveOptions(client, shortOptions()));
    QTcpSocket *peer = connectPeer(*m_server, client);
    QVERIFY(peer);
    Watch watch(&client);
    watch.clock.start();
    QVERIFY(deliverPeerPayload(peer, client));
    QVERIFY(silence(peer));
    QVERIFY(!client.waitForReadyRead(int(boundMs()) + 5000));
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    QCOMPARE(watch.deadPeerSpy.count(), 1);
    QCOMPARE(deadPeerReasonOf(client), Reason::KeepAliveTimeout);
    QCOMPARE(client.error(), QAbstractSocket::SocketTimeoutError);
    QVERIFY2(watch.deadPeerAt <= boundMs() + 1000, qPrintable(QString::number(watch.deadPeerAt)));
    // The wait looked at the kernel before Qt's read met the death: the
    // whole TCP_INFO at the death, not only the state.
    const ConnectionHealth atDeath = connectionHealthOf(client);
    QCOMPARE(atDeath.state, ConnectionHealth::TcpState::Closed);
    QVERIFY2(atDeath.probes.value_or(0) >= 1, qPrintable(describe(atDeath)));
}

#include "tst_deadpeer.moc"
