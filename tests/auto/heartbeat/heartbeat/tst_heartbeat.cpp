// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// KeepAliveHeartbeat: the peers TCP keepalive cannot see (a SIGSTOPped
// process whose kernel still acknowledges, a relay or TLS relay that stops
// forwarding), what the heartbeat writes (only the configured ping, and
// nothing while data flows in), its settings, a move to another thread, and
// one timer for 1000 heartbeats. Heartbeat: interval 1 s, 2 missed, jitter
// 100 ms (bound 3.1 s). Keepalive for comparison: idle 1 s, interval 1 s,
// 2 probes (bound 3 s).

#include "../../shared/deadpeerwatch.h"
#include "../../shared/warningtrap.h"

#include <KeepAliveHeartbeat>
#include <KeepAliveSocket>

#include "threadscheduler_p.h"

#include <QtCore/QElapsedTimer>
#include <QtCore/QMetaProperty>
#include <QtCore/QPointer>
#include <QtCore/QProcess>
#include <QtCore/QRandomGenerator>
#include <QtCore/QRegularExpression>
#include <QtCore/QTemporaryDir>
#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslKey>
#include <QtNetwork/QSslSocket>
#include <QtNetwork/QTcpServer>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <limits>
#include <memory>
#include <vector>

#include <signal.h>

using namespace std::chrono;
using namespace std::chrono_literals;
using namespace DeadPeerTest;

namespace {

constexpr milliseconds Interval = 1s;
constexpr int MaxMissed = 2;
constexpr milliseconds Jitter = 100ms;
constexpr qint64 BoundMs = 3100; // Interval x (MaxMissed + 1) + Jitter
constexpr qint64 KeepAliveBoundMs = 3000;

KeepAliveHeartbeat *shortHeartbeat(QAbstractSocket *socket, const QByteArray &payload = {})
{
    auto *heartbeat = new KeepAliveHeartbeat(socket);
    heartbeat->setInterval(Interval);
    heartbeat->setMaxMissed(MaxMissed);
    heartbeat->setJitter(Jitter);
    heartbeat->setPingPayload(payload);
    return heartbeat;
}

KeepAliveOptions shortKeepAlive()
{
    return KeepAliveOptions().setIdle(1s).setInterval(1s).setProbeCount(2);
}

bool connectTo(QAbstractSocket *socket, quint16 port)
{
    socket->connectToHost(QHostAddress::LocalHost, port);
    return socket->waitForConnected(5000);
}

// A server in this process that accepts and keeps its ends, reading and
// recording what arrives (so the client's writes are acknowledged and
// counted) unless told not to read.
class Peer : public QObject
{
public:
    Peer()
    {
        server.listen(QHostAddress::LocalHost);
        connect(&server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *socket = server.nextPendingConnection()) {
                sockets.push_back(socket);
                connect(socket, &QIODevice::readyRead, this, [this, socket] {
                    received += socket->readAll();
                    if (!echo.first.isEmpty() && received.endsWith(echo.first))
                        socket->write(echo.second);
                });
            }
        });
    }
    quint16 port() const { return server.serverPort(); }
    QTcpSocket *last() const { return sockets.empty() ? nullptr : sockets.back(); }

    QTcpServer server;
    std::vector<QTcpSocket *> sockets;
    QByteArray received;
    QPair<QByteArray, QByteArray> echo; //!< answer second when first arrives
};

// A user-space relay: accepts, connects onward, forwards both ways; told to
// stop, it reads and discards, so both TCP connections stay open and
// acknowledged while nothing gets through (a hung proxy).
class Relay : public QObject
{
public:
    explicit Relay(quint16 target) : target(target)
    {
        server.listen(QHostAddress::LocalHost);
        connect(&server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *inbound = server.nextPendingConnection()) {
                auto *outbound = new QTcpSocket(inbound);
                outbound->connectToHost(QHostAddress::LocalHost, this->target);
                forward(inbound, outbound);
                forward(outbound, inbound);
            }
        });
    }
    quint16 port() const { return server.serverPort(); }

    QTcpServer server;
    const quint16 target;
    bool forwarding = true;

private:
    void forward(QTcpSocket *from, QTcpSocket *to)
    {
        connect(from, &QIODevice::readyRead, this, [this, from, to] {
            const QByteArray data = from->readAll();
            if (forwarding && to->state() == QAbstractSocket::ConnectedState)
                to->write(data);
        });
        // Bytes that arrive before the onward connection is up.
        connect(to, &QAbstractSocket::connected, this, [from] {
            if (from->bytesAvailable() > 0)
                Q_EMIT from->readyRead();
        });
    }
};

// An echo server in another process: SIGSTOP hangs it while its kernel keeps
// acknowledging, keepalive probes included.
class HungProcess
{
public:
    HungProcess()
    {
        const QString script = QStringLiteral("import socket, socketserver, sys\n"
                                              "class H(socketserver.BaseRequestHandler):\n"
                                              "    def handle(self):\n"
                                              "        while True:\n"
                                              "            data = self.request.recv(4096)\n"
                                              "            if not data: return\n"
                                              "            self.request.sendall(data)\n"
                                              "class S(socketserver.ThreadingTCPServer):\n"
                                              "    daemon_threads = True\n"
                                              "s = S(('127.0.0.1', 0), H)\n"
                                              "print(s.server_address[1], flush=True)\n"
                                              "s.serve_forever()\n");
        process.start(QStringLiteral("python3"), {QStringLiteral("-c"), script});
        if (process.waitForStarted(5000) && process.waitForReadyRead(10000))
            port = quint16(process.readLine().trimmed().toUInt());
    }
    ~HungProcess()
    {
        resume();
        process.kill();
        process.waitForFinished(5000);
    }
    bool stop() { return ::kill(pid_t(process.processId()), SIGSTOP) == 0; }
    bool resume() { return ::kill(pid_t(process.processId()), SIGCONT) == 0; }

    QProcess process;
    quint16 port = 0;
};

// A TLS server that echoes what it decrypts.
class TlsEchoServer : public QTcpServer
{
public:
    TlsEchoServer(const QSslCertificate &certificate, const QSslKey &key)
        : certificate(certificate),
          key(key)
    {
    }

protected:
    void incomingConnection(qintptr descriptor) override
    {
        auto *socket = new QSslSocket(this);
        if (!socket->setSocketDescriptor(descriptor)) {
            delete socket;
            return;
        }
        socket->setLocalCertificate(certificate);
        socket->setPrivateKey(key);
        connect(socket, &QIODevice::readyRead, socket,
                [socket] { socket->write(socket->readAll()); });
        socket->startServerEncryption();
    }

private:
    const QSslCertificate certificate;
    const QSslKey key;
};

// The application's view of one heartbeat death.
struct Timing
{
    QElapsedTimer clock;
    qint64 heartbeatTimeoutAt = -1;
    qint64 disconnectedAt = -1;
};

void watchTiming(QObject *context, KeepAliveHeartbeat *heartbeat, Timing *timing)
{
    QObject::connect(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout, context,
                     [timing] { timing->heartbeatTimeoutAt = timing->clock.elapsed(); });
    QObject::connect(heartbeat->socket(), &QAbstractSocket::disconnected, context,
                     [timing] { timing->disconnectedAt = timing->clock.elapsed(); });
}

bool echoes(QAbstractSocket *socket, const QByteArray &message)
{
    socket->write(message);
    QElapsedTimer clock;
    clock.start();
    while (socket->bytesAvailable() < message.size() && clock.elapsed() < 5000)
        QTest::qWait(10);
    return socket->read(message.size()) == message;
}

// As the library writes a duration in its messages.
QString durationText(milliseconds value)
{
    if (value.count() != 0 && value.count() % 1000 == 0)
        return QStringLiteral("%1 s").arg(value.count() / 1000);
    return QStringLiteral("%1 ms").arg(value.count());
}

} // namespace

class tst_Heartbeat : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void hungProcess();
    void stalledRelay();
    void nothingSentWhileDataFlows();
    void pingFunctionWritesOnlyItsBytes();
    void detectOnlyNeverWrites();
    void roundTripTimeFromPingToAnswer();
    void plainSocketKeepsReceivedBytes();
    void keepAliveSocketReportsDeadPeerOnce();
    void deathAndSettingErrorKeptApart();
    void handlersInsideHeartbeatTimeout_data();
    void handlersInsideHeartbeatTimeout();
    void sslThroughStalledRelay();
    void idleNotifications();
    void invalidSettingsRejected_data();
    void invalidSettingsRejected();
    void extremeSettings_data();
    void extremeSettings();
    void defaults();
    void followsSocketToAnotherThread();
    void thousandHeartbeatsOneTimer();
    void differentIntervalsShareTheTimer();
};

// The hung peer and the stalled relay: keepalive (connection A) sees a live
// kernel and reports nothing over 3 x its bound; the heartbeat (connection B
// to the same peer) reports HeartbeatTimeout within its bound + 1 s.
static void expectHeartbeatOnly(QObject *context, KeepAliveSocket *keepAliveOnly,
                                KeepAliveSocket *withHeartbeat, KeepAliveHeartbeat *heartbeat,
                                const std::function<bool()> &hang,
                                const std::function<void()> &unhang, const char *what)
{
    Watch keepAliveWatch(keepAliveOnly);
    Watch heartbeatWatch(withHeartbeat);
    Timing timing;
    watchTiming(context, heartbeat, &timing);
    QSignalSpy timeouts(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout);

    QVERIFY(echoes(keepAliveOnly, "a"));
    QVERIFY(echoes(withHeartbeat, "b"));
    QVERIFY(hang());
    timing.clock.start(); // the last byte was received just now

    QTRY_COMPARE_WITH_TIMEOUT(heartbeatWatch.deadPeerSpy.count(), 1, int(BoundMs + 1000));
    const qint64 detected = timing.clock.elapsed();
    qInfo("%s: heartbeat reported HeartbeatTimeout after %lld ms (bound %lld ms)", what, detected,
          BoundMs);
    QVERIFY(detected <= BoundMs + 1000);
    QVERIFY2(detected >= 2 * Interval.count(), "before the peer could have missed 2 pings");
    QCOMPARE(timeouts.count(), 1);
    QTRY_COMPARE(heartbeatWatch.disconnectedSpy.count(), 1);
    QCOMPARE(heartbeatWatch.events,
             QStringList({QStringLiteral("deadPeer"), QStringLiteral("errorOccurred"),
                          QStringLiteral("disconnected")}));
    QCOMPARE(withHeartbeat->deadPeerReason(), Reason::HeartbeatTimeout);
    QCOMPARE(withHeartbeat->errorString(),
             QStringLiteral("peer did not answer 2 application heartbeats (interval 1 s)"));

    // TCP keepalive: probes answered by the peer's kernel, nothing to report.
    QTest::qWait(int(std::max<qint64>(0, 3 * KeepAliveBoundMs - timing.clock.elapsed())));
    qInfo("%s: keepalive reported nothing after %lld ms (bound %lld ms)", what,
          timing.clock.elapsed(), KeepAliveBoundMs);
    QCOMPARE(keepAliveWatch.deadPeerSpy.count(), 0);
    QCOMPARE(keepAliveWatch.errorSpy.count(), 0);
    QCOMPARE(keepAliveOnly->state(), QAbstractSocket::ConnectedState);

    unhang();
    QTest::qWait(1500);
    QCOMPARE(heartbeatWatch.deadPeerSpy.count(), 1);
    QCOMPARE(heartbeatWatch.errorSpy.count(), 1);
    QCOMPARE(heartbeatWatch.disconnectedSpy.count(), 1);
    QCOMPARE(timeouts.count(), 1);
    QCOMPARE(keepAliveWatch.deadPeerSpy.count(), 0);
}

void tst_Heartbeat::hungProcess()
{
    HungProcess peer;
    QVERIFY2(peer.port != 0, "python3 echo server did not start");

    KeepAliveSocket keepAliveOnly;
    QVERIFY(keepAliveOnly.setKeepAliveOptions(shortKeepAlive()));
    QVERIFY(connectTo(&keepAliveOnly, peer.port));
    KeepAliveSocket withHeartbeat;
    QVERIFY(withHeartbeat.setKeepAliveOptions(shortKeepAlive()));
    KeepAliveHeartbeat *heartbeat = shortHeartbeat(&withHeartbeat, "PING\n");
    QVERIFY(connectTo(&withHeartbeat, peer.port));

    expectHeartbeatOnly(
            this, &keepAliveOnly, &withHeartbeat, heartbeat, [&peer] { return peer.stop(); },
            [&peer] { peer.resume(); }, "hung process (SIGSTOP)");
}

void tst_Heartbeat::stalledRelay()
{
    Peer peer;
    peer.echo = {"PING\n", "PONG\n"};
    Relay relay(peer.port());

    KeepAliveSocket keepAliveOnly;
    QVERIFY(keepAliveOnly.setKeepAliveOptions(shortKeepAlive()));
    QVERIFY(connectTo(&keepAliveOnly, relay.port()));
    KeepAliveSocket withHeartbeat;
    QVERIFY(withHeartbeat.setKeepAliveOptions(shortKeepAlive()));
    KeepAliveHeartbeat *heartbeat = shortHeartbeat(&withHeartbeat, "PING\n");
    QVERIFY(connectTo(&withHeartbeat, relay.port()));
    // The peer answers the first ping through the relay: the pong resets the count.
    QTRY_VERIFY_WITH_TIMEOUT(withHeartbeat.bytesAvailable() >= 5, 5000);
    QCOMPARE(withHeartbeat.readAll(), QByteArray("PONG\n"));
    QCOMPARE(heartbeat->missedCount(), 0);
    peer.echo = {"a", "a"};
    QTRY_COMPARE(peer.sockets.size(), std::size_t(2));
    // Echo everything from now on, as the python peer does.
    for (QTcpSocket *socket : peer.sockets) {
        disconnect(socket, &QIODevice::readyRead, &peer, nullptr);
        connect(socket, &QIODevice::readyRead, &peer,
                [socket] { socket->write(socket->readAll()); });
    }

    expectHeartbeatOnly(
            this, &keepAliveOnly, &withHeartbeat, heartbeat,
            [&relay] {
                relay.forwarding = false;
                return true;
            },
            [&relay] { relay.forwarding = true; }, "stalled relay");
}

void tst_Heartbeat::nothingSentWhileDataFlows()
{
    Peer peer;
    QTcpSocket client;
    KeepAliveHeartbeat *heartbeat = shortHeartbeat(&client, "PING\n");
    QSignalSpy pings(heartbeat, &KeepAliveHeartbeat::pingSent);
    QVERIFY(connectTo(&client, peer.port()));
    QTRY_VERIFY(peer.last());

    // 3 intervals of data every 300 ms: no ping.
    QTimer feed;
    connect(&feed, &QTimer::timeout, &peer, [&peer] { peer.last()->write("data"); });
    feed.start(300);
    QTest::qWait(3000);
    feed.stop();
    QCOMPARE(pings.count(), 0);
    QCOMPARE(peer.received, QByteArray());
    QVERIFY(client.bytesAvailable() >= 4 * 9); // unread by the application, and kept

    // Silence: exactly the payload, once per interval.
    QTRY_COMPARE_WITH_TIMEOUT(peer.received, QByteArray("PING\n"), 2000);
    QTRY_COMPARE_WITH_TIMEOUT(peer.received, QByteArray("PING\nPING\n"), 2000);
    QCOMPARE(pings.count(), 2);
    QVERIFY(client.readAll().startsWith("datadata")); // nothing consumed by the heartbeat
}

void tst_Heartbeat::pingFunctionWritesOnlyItsBytes()
{
    Peer peer;
    peer.echo = {"<ping/>", "<pong/>"};
    QTcpSocket client;
    KeepAliveHeartbeat *heartbeat = shortHeartbeat(&client);
    int calls = 0;
    heartbeat->setPingFunction([&calls](QAbstractSocket *socket) {
        ++calls;
        socket->write("<ping/>");
    });
    QVERIFY(heartbeat->pingPayload().isEmpty());
    QSignalSpy timeouts(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout);
    QVERIFY(connectTo(&client, peer.port()));

    // The peer answers every ping: alive for 4 intervals, one ping each.
    QTest::qWait(4500);
    QCOMPARE(timeouts.count(), 0);
    QVERIFY(calls >= 3);
    QCOMPARE(peer.received, QByteArray("<ping/>").repeated(calls));
    QCOMPARE(client.readAll(), QByteArray("<pong/>").repeated(calls));
    QCOMPARE(client.state(), QAbstractSocket::ConnectedState);
}

void tst_Heartbeat::detectOnlyNeverWrites()
{
    Peer peer;
    QTcpSocket client;
    KeepAliveHeartbeat *heartbeat = shortHeartbeat(&client);
    Timing timing;
    watchTiming(this, heartbeat, &timing);
    QVERIFY(connectTo(&client, peer.port()));
    timing.clock.start();
    QTRY_VERIFY_WITH_TIMEOUT(timing.disconnectedAt >= 0, int(BoundMs + 1000));
    qInfo("detect only: heartbeatTimeout after %lld ms (bound %lld ms)", timing.heartbeatTimeoutAt,
          BoundMs);
    QVERIFY(timing.heartbeatTimeoutAt >= 2 * Interval.count());
    QCOMPARE(peer.received, QByteArray());
}

void tst_Heartbeat::roundTripTimeFromPingToAnswer()
{
    // The peer answers each ping 200 ms late: the round-trip time is the
    // time from the ping written to the answer's first bytes.
    static constexpr auto AnswerDelay = 200ms;
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost));
    connect(&server, &QTcpServer::newConnection, this, [&server] {
        QTcpSocket *socket = server.nextPendingConnection();
        connect(socket, &QIODevice::readyRead, socket, [socket] {
            socket->readAll();
            QTimer::singleShot(AnswerDelay, socket, [socket] { socket->write("PONG\n"); });
        });
    });
    QTcpSocket client;
    KeepAliveHeartbeat *heartbeat = shortHeartbeat(&client, "PING\n");
    QSignalSpy measured(heartbeat, &KeepAliveHeartbeat::roundTripTimeChanged);
    QCOMPARE(heartbeat->roundTripTime(), -1us);
    QVERIFY(connectTo(&client, server.serverPort()));
    QVERIFY(measured.wait(int(Interval.count() + Jitter.count()) + 1000));
    const auto rtt = heartbeat->roundTripTime();
    qInfo("round-trip time %lld us (the peer answers %lld ms late)", qlonglong(rtt.count()),
          qlonglong(AnswerDelay.count()));
    QCOMPARE(measured.first().first().value<std::chrono::microseconds>(), rtt);
    QVERIFY(rtt >= AnswerDelay);
    QVERIFY(rtt < AnswerDelay + 300ms);
    QCOMPARE(heartbeat->missedCount(), 0);

    // A heartbeat that only detects writes no ping and measures nothing.
    Peer silent;
    QTcpSocket detecting;
    KeepAliveHeartbeat *detector = shortHeartbeat(&detecting);
    QSignalSpy detectorPings(detector, &KeepAliveHeartbeat::pingSent);
    QSignalSpy detectorMeasured(detector, &KeepAliveHeartbeat::roundTripTimeChanged);
    QVERIFY(connectTo(&detecting, silent.port()));
    QVERIFY(detectorPings.wait(int(Interval.count() + Jitter.count()) + 1000));
    silent.last()->write("data");
    QTRY_COMPARE(detector->missedCount(), 0);
    QCOMPARE(detectorMeasured.count(), 0);
    QCOMPARE(detector->roundTripTime(), -1us);
}

void tst_Heartbeat::plainSocketKeepsReceivedBytes()
{
    Peer peer;
    QTcpSocket client;
    KeepAliveHeartbeat *heartbeat = shortHeartbeat(&client, "PING\n");
    QSignalSpy timeouts(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout);
    QSignalSpy errors(&client, &QAbstractSocket::errorOccurred);
    QByteArray readAtDisconnected;
    connect(&client, &QAbstractSocket::disconnected, this,
            [&] { readAtDisconnected = client.readAll(); });
    Timing timing;
    watchTiming(this, heartbeat, &timing);
    QVERIFY(connectTo(&client, peer.port()));
    QTRY_VERIFY(peer.last());
    peer.last()->write(peerPayload());
    QTRY_COMPARE(client.bytesAvailable(), qint64(peerPayload().size()));
    timing.clock.start();

    QTRY_COMPARE_WITH_TIMEOUT(timeouts.count(), 1, int(BoundMs + 1000));
    qInfo("plain QTcpSocket: heartbeatTimeout after %lld ms (bound %lld ms)",
          timing.heartbeatTimeoutAt, BoundMs);
    QTRY_VERIFY(timing.disconnectedAt >= 0);
    QCOMPARE(readAtDisconnected, peerPayload());
    QCOMPARE(heartbeat->deadPeerMessage(),
             QStringLiteral("peer did not answer 2 application heartbeats (interval 1 s)"));
    QVERIFY(heartbeat->errorString().isEmpty()); // no setting was rejected
    QCOMPARE(errors.count(), 0);                 // Qt's error cannot be set on a plain socket
    QCOMPARE(peer.received, QByteArray("PING\nPING\n"));
    QTest::qWait(1500);
    QCOMPARE(timeouts.count(), 1);
}

void tst_Heartbeat::keepAliveSocketReportsDeadPeerOnce()
{
    Peer peer;
    KeepAliveSocket client;
    QVERIFY(client.setKeepAliveOptions(shortKeepAlive()));
    KeepAliveHeartbeat *heartbeat = shortHeartbeat(&client, "PING\n");
    Watch watch(&client);
    QStringList order;
    connect(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout, this,
            [&] { order << QStringLiteral("heartbeatTimeout"); });
    connect(&client, &KeepAliveSocket::deadPeer, this, [&] { order << QStringLiteral("deadPeer"); });
    QVERIFY(connectTo(&client, peer.port()));
    QTRY_VERIFY(peer.last());
    peer.last()->write(peerPayload());
    QTRY_COMPARE(client.bytesAvailable(), qint64(peerPayload().size()));
    watch.clock.start();

    QTRY_COMPARE_WITH_TIMEOUT(watch.deadPeerSpy.count(), 1, int(BoundMs + 1000));
    qInfo("KeepAliveSocket: deadPeer(HeartbeatTimeout) after %lld ms (bound %lld ms)",
          watch.deadPeerAt, BoundMs);
    QTRY_COMPARE(watch.disconnectedSpy.count(), 1);
    verifyDeath(watch, Reason::HeartbeatTimeout, QAbstractSocket::SocketTimeoutError,
                QStringLiteral("peer did not answer 2 application heartbeats (interval 1 s)"));
    QCOMPARE(order, QStringList({QStringLiteral("heartbeatTimeout"), QStringLiteral("deadPeer")}));
    QCOMPARE(client.error(), QAbstractSocket::SocketTimeoutError);

    // The next connection is watched again, and its death reported again.
    QVERIFY(connectTo(&client, peer.port()));
    QCOMPARE(client.deadPeerReason(), Reason::None);
    QVERIFY(heartbeat->deadPeerMessage().isEmpty());
    QTRY_COMPARE_WITH_TIMEOUT(watch.deadPeerSpy.count(), 2, int(BoundMs + 1000));
}

// errorString() is the settings' and deadPeerMessage() the connection's:
// neither overwrites the other, each notifies once per change.
void tst_Heartbeat::deathAndSettingErrorKeptApart()
{
    const QString intervalError =
            QStringLiteral("interval 0 ms is out of range: it must be greater than 0");
    const QString maxMissedError =
            QStringLiteral("maxMissed 0 is out of range: it must be at least 1");
    const QString death =
            QStringLiteral("peer did not answer 2 application heartbeats (interval 1 s)");
    Peer peer;
    QTcpSocket client;
    KeepAliveHeartbeat *heartbeat = shortHeartbeat(&client, "PING\n");
    QSignalSpy errorChanged(heartbeat, &KeepAliveHeartbeat::errorStringChanged);
    QSignalSpy deathChanged(heartbeat, &KeepAliveHeartbeat::deadPeerMessageChanged);
    QString messageInTimeout;
    connect(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout, this,
            [&] { messageInTimeout = heartbeat->deadPeerMessage(); });
    const QMetaProperty property = heartbeat->metaObject()->property(
            heartbeat->metaObject()->indexOfProperty("deadPeerMessage"));
    QVERIFY(property.isValid());
    QVERIFY(!property.isWritable());
    QCOMPARE(property.notifySignal().name(), QByteArray("deadPeerMessageChanged"));

    // A death after a rejected setting leaves the setting's message.
    QTest::ignoreMessage(QtWarningMsg,
                         qPrintable(QStringLiteral("KeepAliveHeartbeat: ") + intervalError));
    QVERIFY(!heartbeat->setInterval(0ms));
    QCOMPARE(errorChanged.count(), 1);
    QVERIFY(connectTo(&client, peer.port()));
    QTRY_COMPARE_WITH_TIMEOUT(deathChanged.count(), 1, int(BoundMs + 1000));
    QCOMPARE(deathChanged.constFirst().constFirst().toString(), death);
    QCOMPARE(heartbeat->deadPeerMessage(), death);
    QCOMPARE(heartbeat->property("deadPeerMessage").toString(), death);
    QCOMPARE(messageInTimeout, death);
    QCOMPARE(heartbeat->errorString(), intervalError);
    QCOMPARE(errorChanged.count(), 1);

    // A rejected setting after the death leaves the death's message.
    QTest::ignoreMessage(QtWarningMsg,
                         qPrintable(QStringLiteral("KeepAliveHeartbeat: ") + maxMissedError));
    QVERIFY(!heartbeat->setMaxMissed(0));
    QCOMPARE(heartbeat->errorString(), maxMissedError);
    QCOMPARE(errorChanged.count(), 2);
    QCOMPARE(heartbeat->deadPeerMessage(), death);
    QCOMPARE(deathChanged.count(), 1);

    // An accepted setting clears only the setting's message.
    QVERIFY(heartbeat->setMaxMissed(MaxMissed));
    QVERIFY(heartbeat->errorString().isEmpty());
    QCOMPARE(errorChanged.count(), 3);
    QCOMPARE(heartbeat->deadPeerMessage(), death);
    QCOMPARE(deathChanged.count(), 1);

    // A new connection watched: the last one's death is history.
    QTRY_COMPARE(client.state(), QAbstractSocket::UnconnectedState);
    QVERIFY(connectTo(&client, peer.port()));
    QCOMPARE(deathChanged.count(), 2);
    QVERIFY(deathChanged.constLast().constFirst().toString().isEmpty());
    QVERIFY(heartbeat->deadPeerMessage().isEmpty());
    QCOMPARE(errorChanged.count(), 3);
    client.abort();
    QCOMPARE(deathChanged.count(), 2);
}

// What a heartbeatTimeout() handler does does not cancel the verdict: the
// connection ends, and a KeepAliveSocket reports deadPeer(HeartbeatTimeout)
// and errorOccurred() before disconnected(), whether the handler ends the
// connection itself or deletes the heartbeat.
void tst_Heartbeat::handlersInsideHeartbeatTimeout_data()
{
    QTest::addColumn<QString>("action");
    QTest::addColumn<bool>("keepAliveSocket");
    for (const char *action : {"delete the heartbeat", "abort", "close", "disconnectFromHost"}) {
        QTest::addRow("%s, KeepAliveSocket", action) << QString::fromLatin1(action) << true;
        QTest::addRow("%s, QTcpSocket", action) << QString::fromLatin1(action) << false;
    }
}

void tst_Heartbeat::handlersInsideHeartbeatTimeout()
{
    QFETCH(QString, action);
    QFETCH(bool, keepAliveSocket);
    Peer peer; // accepts, and never answers a ping
    const std::unique_ptr<QTcpSocket> socket =
            keepAliveSocket ? std::make_unique<KeepAliveSocket>() : std::make_unique<QTcpSocket>();
    QPointer<KeepAliveHeartbeat> heartbeat = new KeepAliveHeartbeat(socket.get());
    QVERIFY(heartbeat->setInterval(300ms));
    QVERIFY(heartbeat->setMaxMissed(1));
    QVERIFY(heartbeat->setJitter(0ms));
    heartbeat->setPingPayload("PING\n");
    QStringList events;
    connect(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout, this, [&] {
        events << QStringLiteral("heartbeatTimeout");
        if (action == QLatin1String("delete the heartbeat"))
            delete heartbeat.data();
        else if (action == QLatin1String("abort"))
            socket->abort();
        else if (action == QLatin1String("close"))
            socket->close();
        else
            socket->disconnectFromHost();
    });
    if (auto *client = qobject_cast<KeepAliveSocket *>(socket.get())) {
        connect(client, &KeepAliveSocket::deadPeer, this,
                [&](Reason reason) { events << QStringLiteral("deadPeer %1").arg(int(reason)); });
    }
    connect(socket.get(), &QAbstractSocket::errorOccurred, this,
            [&] { events << QStringLiteral("errorOccurred"); });
    connect(socket.get(), &QAbstractSocket::disconnected, this,
            [&] { events << QStringLiteral("disconnected"); });
    QVERIFY(connectTo(socket.get(), peer.port()));

    QTRY_VERIFY_WITH_TIMEOUT(events.contains(QStringLiteral("disconnected")), 5000);
    QStringList expected{QStringLiteral("heartbeatTimeout")};
    if (keepAliveSocket)
        expected << QStringLiteral("deadPeer %1").arg(int(Reason::HeartbeatTimeout))
                 << QStringLiteral("errorOccurred");
    expected << QStringLiteral("disconnected");
    QCOMPARE(events, expected);
    QCOMPARE(socket->state(), QAbstractSocket::UnconnectedState);
    if (auto *client = qobject_cast<KeepAliveSocket *>(socket.get()))
        QCOMPARE(client->deadPeerReason(), Reason::HeartbeatTimeout);
    QCOMPARE(heartbeat.isNull(), action == QLatin1String("delete the heartbeat"));
    QTest::qWait(400); // nothing more, not even from the grace timer
    QCOMPARE(events, expected);
}

void tst_Heartbeat::sslThroughStalledRelay()
{
    // A fault test: on a user's machine it may be skipped, under CI=true never.
    const auto unavailable = [](const char *why) {
        if (qEnvironmentVariable("CI") == QLatin1String("true"))
            QFAIL(qPrintable(QLatin1String(why) + QLatin1String(" (CI=true: this test must run)")));
        QSKIP(why);
    };
    if (!QSslSocket::supportsSsl())
        return unavailable("no TLS backend");
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    QProcess openssl;
    openssl.start(QStringLiteral("openssl"),
                  {QStringLiteral("req"), QStringLiteral("-x509"), QStringLiteral("-newkey"),
                   QStringLiteral("rsa:2048"), QStringLiteral("-nodes"), QStringLiteral("-days"),
                   QStringLiteral("1"), QStringLiteral("-subj"), QStringLiteral("/CN=localhost"),
                   QStringLiteral("-keyout"), dir.filePath(QStringLiteral("key.pem")),
                   QStringLiteral("-out"), dir.filePath(QStringLiteral("cert.pem"))});
    if (!openssl.waitForStarted(5000))
        return unavailable("openssl is not installed (apt-get install openssl)");
    QVERIFY(openssl.waitForFinished(60000));
    QCOMPARE(openssl.exitCode(), 0);
    const QList<QSslCertificate> certificates =
            QSslCertificate::fromPath(dir.filePath(QStringLiteral("cert.pem")));
    QCOMPARE(certificates.size(), 1);
    QFile keyFile(dir.filePath(QStringLiteral("key.pem")));
    QVERIFY(keyFile.open(QIODevice::ReadOnly));
    const QSslKey key(&keyFile, QSsl::Rsa);
    QVERIFY(!key.isNull());

    // The TLS server: echoes what it decrypts.
    TlsEchoServer server(certificates.first(), key);
    QVERIFY(server.listen(QHostAddress::LocalHost));
    Relay relay(server.serverPort());

    QSslSocket client;
    client.ignoreSslErrors({QSslError(QSslError::SelfSignedCertificate, certificates.first())});
    KeepAliveHeartbeat *heartbeat = shortHeartbeat(&client, "PING\n");
    Timing timing;
    watchTiming(this, heartbeat, &timing);
    client.connectToHostEncrypted(QStringLiteral("127.0.0.1"), relay.port(),
                                  QStringLiteral("localhost"));
    // Not waitForEncrypted(): the relay and the server run in this thread's event loop.
    QSignalSpy encrypted(&client, &QSslSocket::encrypted);
    QTRY_VERIFY2_WITH_TIMEOUT(encrypted.count() == 1, qPrintable(client.errorString()), 15000);
    QVERIFY(echoes(&client, "hello"));

    relay.forwarding = false;
    timing.clock.start();
    QTRY_VERIFY_WITH_TIMEOUT(timing.heartbeatTimeoutAt >= 0, int(BoundMs + 1000));
    qInfo("QSslSocket through a stalled relay: heartbeatTimeout after %lld ms (bound %lld ms)",
          timing.heartbeatTimeoutAt, BoundMs);
    QVERIFY(timing.heartbeatTimeoutAt >= 2 * Interval.count());
    QTRY_VERIFY_WITH_TIMEOUT(timing.disconnectedAt >= 0, int(Interval.count()) + 2000);
    QCOMPARE(client.state(), QAbstractSocket::UnconnectedState);
}

void tst_Heartbeat::idleNotifications()
{
    Peer peer;
    QTcpSocket client;
    auto *heartbeat = new KeepAliveHeartbeat(&client);
    QVERIFY(heartbeat->setInterval(60s)); // no ping, no death here
    QVERIFY(heartbeat->setReaderIdleTime(400ms));
    QVERIFY(heartbeat->setWriterIdleTime(700ms));
    QVERIFY(heartbeat->setAllIdleTime(1000ms));
    QSignalSpy readerIdle(heartbeat, &KeepAliveHeartbeat::readerIdle);
    QSignalSpy writerIdle(heartbeat, &KeepAliveHeartbeat::writerIdle);
    QSignalSpy allIdle(heartbeat, &KeepAliveHeartbeat::allIdle);
    QVERIFY(connectTo(&client, peer.port()));
    QTRY_VERIFY(peer.last());

    // The client writes every 200 ms: reader idle, never writer or all idle.
    QTimer writes;
    connect(&writes, &QTimer::timeout, &client, [&client] { client.write("x"); });
    writes.start(200);
    QTest::qWait(1500);
    writes.stop();
    QVERIFY2(readerIdle.count() >= 2, qPrintable(QString::number(readerIdle.count())));
    QCOMPARE(writerIdle.count(), 0);
    QCOMPARE(allIdle.count(), 0);
    // Nothing at all: all three.
    QTRY_VERIFY_WITH_TIMEOUT(allIdle.count() >= 1, 2000);
    QVERIFY(writerIdle.count() >= 1);
    // Off.
    QVERIFY(heartbeat->setReaderIdleTime(0ms));
    const auto before = readerIdle.count();
    QTest::qWait(1000);
    QCOMPARE(readerIdle.count(), before);
    QCOMPARE(peer.received, QByteArray("x").repeated(int(peer.received.size())));
}

void tst_Heartbeat::invalidSettingsRejected_data()
{
    QTest::addColumn<QString>("property");
    QTest::addColumn<qint64>("value");
    QTest::addColumn<QString>("message");

    QTest::newRow("interval 0") << QStringLiteral("interval") << qint64(0)
                                << QStringLiteral("interval 0 ms is out of range: it must be "
                                                  "greater than 0");
    QTest::newRow("interval negative")
            << QStringLiteral("interval") << qint64(-5)
            << QStringLiteral("interval -5 ms is out of range: it must be greater than 0");
    QTest::newRow("interval below jitter")
            << QStringLiteral("interval") << qint64(50)
            << QStringLiteral("interval 50 ms is out of range: it must be at least the jitter "
                              "(100 ms)");
    QTest::newRow("interval beyond the clock")
            << QStringLiteral("interval") << std::numeric_limits<qint64>::max()
            << QStringLiteral("interval 9223372036854775807 ms is out of range: with maxMissed 2 "
                              "it must be 1 ms .. 3074457345584 ms (the detection bound interval "
                              "× (maxMissed + 1) + jitter must not exceed 9223372036854 ms, about "
                              "292 years)");
    QTest::newRow("maxMissed 0") << QStringLiteral("maxMissed") << qint64(0)
                                 << QStringLiteral("maxMissed 0 is out of range: it must be at "
                                                   "least 1");
    QTest::newRow("jitter negative")
            << QStringLiteral("jitter") << qint64(-1)
            << QStringLiteral("jitter -1 ms is out of range: it must be 0 ms .. the interval "
                              "(1 s)");
    QTest::newRow("jitter above interval")
            << QStringLiteral("jitter") << qint64(1001)
            << QStringLiteral("jitter 1001 ms is out of range: it must be 0 ms .. the interval "
                              "(1 s)");
    QTest::newRow("readerIdleTime negative")
            << QStringLiteral("readerIdleTime") << qint64(-1)
            << QStringLiteral("readerIdleTime -1 ms is out of range: it must be 0 (off) or "
                              "greater");
    QTest::newRow("writerIdleTime negative")
            << QStringLiteral("writerIdleTime") << qint64(-1)
            << QStringLiteral("writerIdleTime -1 ms is out of range: it must be 0 (off) or "
                              "greater");
    QTest::newRow("allIdleTime negative")
            << QStringLiteral("allIdleTime") << qint64(-1)
            << QStringLiteral("allIdleTime -1 ms is out of range: it must be 0 (off) or "
                              "greater");
}

void tst_Heartbeat::invalidSettingsRejected()
{
    QFETCH(QString, property);
    QFETCH(qint64, value);
    QFETCH(QString, message);

    QTcpSocket socket;
    KeepAliveHeartbeat *heartbeat = shortHeartbeat(&socket);
    QVERIFY(heartbeat->setReaderIdleTime(5s));
    QVERIFY(heartbeat->errorString().isEmpty());
    const auto snapshot = [heartbeat] {
        return QVariantList{QVariant::fromValue(heartbeat->interval()),
                            heartbeat->maxMissed(),
                            QVariant::fromValue(heartbeat->jitter()),
                            QVariant::fromValue(heartbeat->readerIdleTime()),
                            QVariant::fromValue(heartbeat->writerIdleTime()),
                            QVariant::fromValue(heartbeat->allIdleTime())};
    };
    const QVariantList before = snapshot();
    QSignalSpy errorChanged(heartbeat, &KeepAliveHeartbeat::errorStringChanged);
    std::vector<std::unique_ptr<QSignalSpy>> changeSpies;
    for (const char *signal :
         {"intervalChanged", "maxMissedChanged", "jitterChanged", "readerIdleTimeChanged",
          "writerIdleTimeChanged", "allIdleTimeChanged"}) {
        const int index = heartbeat->metaObject()->indexOfSignal(
                QMetaObject::normalizedSignature((QByteArray(signal)
                                                  + (qstrcmp(signal, "maxMissedChanged") == 0
                                                             ? "(int)"
                                                             : "(std::chrono::milliseconds)"))
                                                         .constData())
                        .constData());
        QVERIFY2(index >= 0, signal);
        changeSpies.push_back(
                std::make_unique<QSignalSpy>(heartbeat, heartbeat->metaObject()->method(index)));
    }
    QTest::ignoreMessage(QtWarningMsg, qPrintable(QStringLiteral("KeepAliveHeartbeat: ") + message));

    const milliseconds duration(value);
    bool accepted = true;
    if (property == QLatin1String("interval"))
        accepted = heartbeat->setInterval(duration);
    else if (property == QLatin1String("maxMissed"))
        accepted = heartbeat->setMaxMissed(int(value));
    else if (property == QLatin1String("jitter"))
        accepted = heartbeat->setJitter(duration);
    else if (property == QLatin1String("readerIdleTime"))
        accepted = heartbeat->setReaderIdleTime(duration);
    else if (property == QLatin1String("writerIdleTime"))
        accepted = heartbeat->setWriterIdleTime(duration);
    else if (property == QLatin1String("allIdleTime"))
        accepted = heartbeat->setAllIdleTime(duration);
    QVERIFY(!accepted);
    QCOMPARE(heartbeat->errorString(), message);
    QCOMPARE(errorChanged.count(), 1);
    QCOMPARE(snapshot(), before);
    for (const auto &spy : changeSpies)
        QCOMPARE(spy->count(), 0);

    // A valid setting clears the message.
    QVERIFY(heartbeat->setMaxMissed(4));
    QVERIFY(heartbeat->errorString().isEmpty());
}

void tst_Heartbeat::extremeSettings_data()
{
    QTest::addColumn<quint32>("seed");
    // Fixed seeds: a failure is reproduced by its row.
    for (const quint32 seed : {1u, 20240611u, 0xC0FFEEu})
        QTest::addRow("seed %u", seed) << seed;
}

// Every duration and count setter with values at and beyond the edges of
// QTimer (int milliseconds), the clock and milliseconds: each is either
// accepted, and then reads back with a detection bound that adds up, or
// rejected with a message naming it; never a Qt warning (a wrapped QTimer
// interval: "Timers cannot have negative intervals"), never UB.
void tst_Heartbeat::extremeSettings()
{
    QFETCH(quint32, seed);
    qInfo("seed %u", seed);
    QRandomGenerator random(seed);

    Peer peer;
    QTcpSocket socket;
    auto *heartbeat = new KeepAliveHeartbeat(&socket);
    QVERIFY(connectTo(&socket, peer.port()));

    constexpr qint64 intMax = std::numeric_limits<int>::max();
    const std::vector<milliseconds> durations = {0ms,
                                                 -1ms,
                                                 1ms,
                                                 milliseconds(intMax),
                                                 milliseconds(intMax + 1),
                                                 hours(24 * 30),
                                                 hours(24 * 31),
                                                 hours(24 * 365 * 300),
                                                 milliseconds::max(),
                                                 milliseconds::min(),
                                                 -hours(24 * 365)};
    const std::vector<int> counts = {
            0, -1, 1, 2, 1000, std::numeric_limits<int>::max(), std::numeric_limits<int>::min()};
    const QStringList setters = {QStringLiteral("interval"),       QStringLiteral("maxMissed"),
                                 QStringLiteral("jitter"),         QStringLiteral("readerIdleTime"),
                                 QStringLiteral("writerIdleTime"), QStringLiteral("allIdleTime")};

    WarningTrap trap;
    for (int call = 0; call < 300; ++call) {
        const QString setter = setters.at(random.bounded(int(setters.size())));
        // Mostly the edges, sometimes anything a milliseconds can hold.
        const milliseconds duration = random.bounded(4) == 0
                ? milliseconds(qint64(random.generate64()))
                : durations.at(random.bounded(int(durations.size())));
        const int count = random.bounded(4) == 0 ? int(random.generate())
                                                 : counts.at(random.bounded(int(counts.size())));
        const QString value = setter == QLatin1String("maxMissed") ? QString::number(count)
                                                                   : durationText(duration);
        const QString what = QStringLiteral("call %1: %2(%3)").arg(call).arg(setter, value);
        const QVariantList before{QVariant::fromValue(heartbeat->interval()),
                                  heartbeat->maxMissed(),
                                  QVariant::fromValue(heartbeat->jitter()),
                                  QVariant::fromValue(heartbeat->readerIdleTime()),
                                  QVariant::fromValue(heartbeat->writerIdleTime()),
                                  QVariant::fromValue(heartbeat->allIdleTime())};
        trap.warnings.clear();

        bool accepted = false;
        bool readsBack = false;
        if (setter == QLatin1String("interval")) {
            accepted = heartbeat->setInterval(duration);
            readsBack = heartbeat->interval() == duration;
        } else if (setter == QLatin1String("maxMissed")) {
            accepted = heartbeat->setMaxMissed(count);
            readsBack = heartbeat->maxMissed() == count;
        } else if (setter == QLatin1String("jitter")) {
            accepted = heartbeat->setJitter(duration);
            readsBack = heartbeat->jitter() == duration;
        } else if (setter == QLatin1String("readerIdleTime")) {
            accepted = heartbeat->setReaderIdleTime(duration);
            readsBack = heartbeat->readerIdleTime() == duration;
        } else if (setter == QLatin1String("writerIdleTime")) {
            accepted = heartbeat->setWriterIdleTime(duration);
            readsBack = heartbeat->writerIdleTime() == duration;
        } else {
            accepted = heartbeat->setAllIdleTime(duration);
            readsBack = heartbeat->allIdleTime() == duration;
        }

        if (accepted) {
            QVERIFY2(readsBack, qPrintable(what));
            QVERIFY2(heartbeat->errorString().isEmpty(), qPrintable(what));
            QVERIFY2(trap.warnings.isEmpty(),
                     qPrintable(what + QStringLiteral(": ") + trap.warnings.join(u'|')));
        } else {
            const QVariantList after{QVariant::fromValue(heartbeat->interval()),
                                     heartbeat->maxMissed(),
                                     QVariant::fromValue(heartbeat->jitter()),
                                     QVariant::fromValue(heartbeat->readerIdleTime()),
                                     QVariant::fromValue(heartbeat->writerIdleTime()),
                                     QVariant::fromValue(heartbeat->allIdleTime())};
            QVERIFY2(after == before, qPrintable(what));
            const QString message = heartbeat->errorString();
            // Names the setting, the value and the range.
            QVERIFY2(message.startsWith(setter + u' ' + value
                                        + QStringLiteral(" is out of range: ")),
                     qPrintable(what + QStringLiteral(": ") + message));
            // The library's own warning is the message; nothing else.
            QCOMPARE(trap.warnings, QStringList(QStringLiteral("KeepAliveHeartbeat: ") + message));
        }
        // The detection bound adds up: interval x (maxMissed + 1) + jitter,
        // checked by division so that the check itself cannot overflow.
        const milliseconds bound = heartbeat->detectionBound();
        const qint64 periods = qint64(heartbeat->maxMissed()) + 1;
        QVERIFY2(bound >= heartbeat->jitter(), qPrintable(what));
        QVERIFY2((bound - heartbeat->jitter()).count() % periods == 0, qPrintable(what));
        QVERIFY2((bound - heartbeat->jitter()).count() / periods == heartbeat->interval().count(),
                 qPrintable(what));
    }

    // Still working: short settings ping and declare the silent peer dead.
    trap.warnings.clear();
    QVERIFY(heartbeat->setReaderIdleTime(0ms));
    QVERIFY(heartbeat->setWriterIdleTime(0ms));
    QVERIFY(heartbeat->setAllIdleTime(0ms));
    if (heartbeat->jitter() > 100ms)
        QVERIFY(heartbeat->setJitter(0ms));
    QVERIFY(heartbeat->setInterval(100ms));
    QVERIFY(heartbeat->setMaxMissed(1));
    QSignalSpy timedOut(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout);
    QTRY_COMPARE_WITH_TIMEOUT(timedOut.count(), 1, 5000);
    QVERIFY2(trap.warnings.isEmpty(), qPrintable(trap.warnings.join(u'|')));
}

void tst_Heartbeat::defaults()
{
    QTcpSocket socket;
    auto *heartbeat = new KeepAliveHeartbeat(&socket);
    QCOMPARE(heartbeat->parent(), &socket);
    QCOMPARE(heartbeat->socket(), &socket);
    QCOMPARE(heartbeat->interval(), 10s);
    QCOMPARE(heartbeat->maxMissed(), 3);
    QCOMPARE(heartbeat->jitter(), 1s); // 10 % of the interval
    QVERIFY(heartbeat->pingPayload().isEmpty());
    QVERIFY(!heartbeat->pingFunction());
    QCOMPARE(heartbeat->readerIdleTime(), 0ms);
    QCOMPARE(heartbeat->detectionBound(), 41s);

    QSignalSpy jitterChanged(heartbeat, &KeepAliveHeartbeat::jitterChanged);
    QVERIFY(heartbeat->setInterval(2s));
    QCOMPARE(heartbeat->jitter(), 200ms); // follows until set
    QCOMPARE(jitterChanged.count(), 1);
    QVERIFY(heartbeat->setJitter(0ms));
    QVERIFY(heartbeat->setInterval(3s));
    QCOMPARE(heartbeat->jitter(), 0ms);
    QCOMPARE(heartbeat->detectionBound(), 12s);
    QVERIFY(heartbeat->setProperty("maxMissed", 5));
    QCOMPARE(heartbeat->maxMissed(), 5);
}

void tst_Heartbeat::followsSocketToAnotherThread()
{
    QTest::failOnWarning(QRegularExpression(QStringLiteral("Timers? cannot")));
    QTest::failOnWarning(QRegularExpression(QStringLiteral("QSocketNotifier")));
    Peer peer;
    auto *client = new QTcpSocket;
    KeepAliveHeartbeat *heartbeat = shortHeartbeat(client, "PING\n");
    QVERIFY(connectTo(client, peer.port()));
    QVERIFY(ThreadScheduler::existingForCurrentThread());

    QThread thread;
    thread.start();
    std::atomic<int> timeouts{0};
    std::atomic<bool> wrongThread{false};
    connect(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout, heartbeat, [&] {
        wrongThread = QThread::currentThread() != &thread;
        ++timeouts;
    });
    QElapsedTimer clock;
    clock.start();
    client->moveToThread(&thread);
    QCOMPARE(heartbeat->thread(), &thread);
    // This thread's scheduler has no heartbeat left and is gone.
    QVERIFY(!ThreadScheduler::existingForCurrentThread());

    QTRY_COMPARE_WITH_TIMEOUT(timeouts.load(), 1, int(BoundMs + 1000));
    qInfo("after moveToThread: heartbeatTimeout after %lld ms (bound %lld ms)", clock.elapsed(),
          BoundMs);
    QVERIFY(!wrongThread);
    QCOMPARE(peer.received, QByteArray("PING\nPING\n"));

    QMetaObject::invokeMethod(
            client, [client] { delete client; }, Qt::BlockingQueuedConnection);
    thread.quit();
    QVERIFY(thread.wait(5000));
}

void tst_Heartbeat::thousandHeartbeatsOneTimer()
{
    constexpr int Count = 1000;
    constexpr milliseconds Spread = 500ms;
    Peer peer;
    std::vector<std::unique_ptr<QTcpSocket>> clients;
    for (int i = 0; i < Count; ++i) {
        clients.push_back(std::make_unique<QTcpSocket>());
        clients.back()->connectToHost(QHostAddress::LocalHost, peer.port());
    }
    QTRY_VERIFY_WITH_TIMEOUT(std::all_of(clients.begin(), clients.end(),
                                         [](const auto &client) {
                                             return client->state()
                                                     == QAbstractSocket::ConnectedState;
                                         }),
                             30000);

    // All at once, as after a server restart: only the jitter spreads them.
    QElapsedTimer clock;
    std::vector<qint64> firstPing(Count, -1);
    clock.start();
    for (int i = 0; i < Count; ++i) {
        auto *heartbeat = new KeepAliveHeartbeat(clients[i].get());
        QVERIFY(heartbeat->setInterval(Interval));
        QVERIFY(heartbeat->setJitter(Spread));
        heartbeat->setPingPayload("P");
        connect(heartbeat, &KeepAliveHeartbeat::pingSent, this, [&firstPing, &clock, i] {
            if (firstPing[i] < 0)
                firstPing[i] = clock.elapsed();
        });
    }
    const qint64 created = clock.elapsed();
    ThreadScheduler *scheduler = ThreadScheduler::existingForCurrentThread();
    QVERIFY(scheduler);
    QCOMPARE(scheduler->clientCount(), std::size_t(Count));
    QCOMPARE(scheduler->findChildren<QTimer *>().size(), 1);

    QTRY_VERIFY_WITH_TIMEOUT(
            std::none_of(firstPing.begin(), firstPing.end(), [](qint64 at) { return at < 0; }),
            5000);
    const auto [earliest, latest] = std::minmax_element(firstPing.begin(), firstPing.end());
    // Ten buckets of 50 ms over the jitter window: none holds a lockstep crowd.
    std::vector<int> buckets(12, 0);
    for (qint64 at : firstPing)
        ++buckets[std::clamp<qint64>((at - Interval.count()) / 50, 0, 11)];
    const int crowded = *std::max_element(buckets.begin(), buckets.end());
    qInfo("%d heartbeats created in %lld ms; first pings from %lld to %lld ms, at most %d in one "
          "50 ms slot",
          Count, created, *earliest, *latest, crowded);
    QVERIFY(*earliest >= Interval.count());
    QVERIFY(*latest - *earliest >= Spread.count() / 2);
    QVERIFY(*latest <= Interval.count() + Spread.count() + created + 500);
    QVERIFY2(crowded < Count / 4, "pings in lockstep");
    QCOMPARE(scheduler->findChildren<QTimer *>().size(), 1);
    clients.clear();
    QVERIFY(!ThreadScheduler::existingForCurrentThread());
}

// Each distinct timeout is a queue of its own behind the one timer: a short
// interval is not held back by a long one, nor the other way round.
void tst_Heartbeat::differentIntervalsShareTheTimer()
{
    Peer peer;
    QTcpSocket fast;
    QTcpSocket slow;
    auto *fastHeartbeat = new KeepAliveHeartbeat(&fast);
    auto *slowHeartbeat = new KeepAliveHeartbeat(&slow);
    for (auto [heartbeat, interval] :
         {std::pair(slowHeartbeat, 700ms), std::pair(fastHeartbeat, 300ms)}) {
        QVERIFY(heartbeat->setInterval(interval));
        QVERIFY(heartbeat->setJitter(0ms));
        QVERIFY(heartbeat->setMaxMissed(100));
    }
    QSignalSpy fastPings(fastHeartbeat, &KeepAliveHeartbeat::pingSent);
    QSignalSpy slowPings(slowHeartbeat, &KeepAliveHeartbeat::pingSent);
    QVERIFY(connectTo(&slow, peer.port()));
    QVERIFY(connectTo(&fast, peer.port()));
    QCOMPARE(ThreadScheduler::existingForCurrentThread()->findChildren<QTimer *>().size(), 1);
    QTest::qWait(2250);
    qInfo("in 2250 ms: %lld pings every 300 ms, %lld every 700 ms", qint64(fastPings.count()),
          qint64(slowPings.count()));
    QVERIFY(fastPings.count() >= 6 && fastPings.count() <= 7);
    QCOMPARE(slowPings.count(), 3);
}

QTEST_GUILESS_MAIN(tst_Heartbeat)
#include "tst_heartbeat.moc"
