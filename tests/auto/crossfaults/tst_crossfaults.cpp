// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// Dead peers made for real by a peer on another system: this program is
// built for Windows and run under Wine, and its peer is a Linux process in a
// network namespace, driven over a control channel on 127.0.0.1 by
// peerhelper.py (which started this program; see there). Wine programs use
// the host's network stack, so a peer whose link goes down, whose socket is
// reset or closed, or whose process is stopped reaches this program as it
// would reach a Windows host.
//
// Every fault runs on the client side (a KeepAliveSocket connecting to the
// peer) and on the server side (a KeepAliveServer client the peer connected
// to). Keepalive settings: idle 1 s, interval 1 s, 2 probes asked; Wine
// applies idle and interval (SIO_KEEPALIVE_VALS) and leaves the Linux host's
// probe count (9 by default) in force, so an idle peer is declared dead
// after about 1 s + 9 × 1 s. Wine refuses TCP_MAXRT: nothing bounds data in
// flight but the host kernel's ~15 minutes. The busy-peer case therefore
// asserts that the library says so (detection bound none, no user timeout
// applied), and then has the helper shorten the host kernel's
// retransmission limit for this one socket (TCP_USER_TIMEOUT from outside):
// the death that follows is what the kernel's own limit gives, WSAETIMEDOUT
// with data in flight, only sooner. The same holds for a peer whose router
// answers for it with ICMP host unreachable (a router namespace between the
// host and the peer): the soft error it leaves is what that limit reports.
//
// Without the helper (no KEEPALIVE_PEER_CONTROL) the test skips, except
// under CI=true, where a skip would hide a regression: it fails there.

#include "../shared/deadpeerwatch.h"
#include "../shared/peercontrol.h"

#include <keepalivetesting.h>

#include <KeepAliveHeartbeat>
#include <KeepAliveServer>
#include <KeepAliveSocket>

#include <QtCore/QElapsedTimer>
#include <QtCore/QPointer>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <chrono>
#include <memory>

using namespace std::chrono;
using namespace std::chrono_literals;
using namespace DeadPeerTest;

namespace {

constexpr int ControlTimeoutMs = QtKeepAliveTesting::PeerControl::ControlTimeoutMs;

} // namespace

class tst_CrossFaults : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void silentIdlePeer_data() { sides(); }
    void silentIdlePeer();
    void silentBusyPeer_data() { sides(); }
    void silentBusyPeer();
    void resetPeer_data() { sides(); }
    void resetPeer();
    void orderlyClose_data() { sides(); }
    void orderlyClose();
    void hungPeerHeartbeat_data() { sides(); }
    void hungPeerHeartbeat();
    void unreachablePeer_data() { sides(); }
    void unreachablePeer();
    void pendingClientLost_data();
    void pendingClientLost();

private:
    void sides();
    //! Sends \a line ("setup" or "setup routed") and takes the peer's addresses from the answer.
    bool setUpPeer(const QString &line);
    //! Sends \a line to the helper, failing the test on an error.
    QStringList control(const QString &line);
    //! A connection to the peer on the side under test; the peer has sent its payload.
    KeepAliveSocket *connectToPeer();
    //! What the peer sends before every fault (peerPayload()), read by Qt.
    void sendPayload(KeepAliveSocket *socket);
    //! The Wine bound of an idle peer: idle + interval × the host's probe count.
    milliseconds idleBound() const { return 1s + 1s * m_hostProbes; }

    QtKeepAliveTesting::PeerControl m_control;
    bool m_available = false;
    QString m_peerAddress;
    quint16 m_peerPort = 0;
    QString m_hostAddress;
    int m_hostProbes = 0;
    std::unique_ptr<KeepAliveServer> m_server;
    std::unique_ptr<KeepAliveSocket> m_client;
    //! Server side: clientLost() as the application sees it.
    std::unique_ptr<QSignalSpy> m_lost;
};

void tst_CrossFaults::initTestCase()
{
    OPEN_PEER_CONTROL(m_control);
    m_available = true;
    // Wine: SIO_KEEPALIVE_VALS, no probe count and no retransmission bound per socket.
    QVERIFY(!KeepAliveOptions::supportedFields().testFlag(KeepAliveOptions::Field::ProbeCount));
    QVERIFY(!KeepAliveOptions::supportedFields().testFlag(KeepAliveOptions::Field::UserTimeout));
}

void tst_CrossFaults::sides()
{
    QTest::addColumn<bool>("server");
    QTest::newRow("client (KeepAliveSocket)") << false;
    QTest::newRow("server (KeepAliveServer client)") << true;
}

QStringList tst_CrossFaults::control(const QString &line)
{
    return peerCommand(m_control, line);
}

bool tst_CrossFaults::setUpPeer(const QString &line)
{
    const QStringList setup = control(line);
    if (setup.size() != 4)
        return false;
    m_peerAddress = setup.at(0);
    m_peerPort = quint16(setup.at(1).toUInt());
    m_hostAddress = setup.at(2);
    m_hostProbes = setup.at(3).toInt();
    return m_hostProbes >= 1;
}

void tst_CrossFaults::init()
{
    QVERIFY(setUpPeer(QStringLiteral("setup")));
    // Nothing bounds data in flight under Wine; the idle bound the library
    // reports counts the probes the host kernel really sends.
    QCOMPARE(shortOptions().detectionBound(), milliseconds::max());
    QCOMPARE(shortOptions().idleDetectionBound(), idleBound());
}

void tst_CrossFaults::cleanup()
{
    if (!m_available)
        return;
    control(QStringLiteral("cont"));
    m_client.reset();
    m_lost.reset();
    m_server.reset();
    control(QStringLiteral("teardown"));
}

KeepAliveSocket *tst_CrossFaults::connectToPeer()
{
    QFETCH(bool, server);
    if (!server) {
        m_client = std::make_unique<KeepAliveSocket>();
        if (!m_client->setKeepAliveOptions(shortOptions()))
            qWarning().noquote() << m_client->keepAliveErrorString();
        m_client->connectToHost(QHostAddress(m_peerAddress), m_peerPort);
        if (!m_client->waitForConnected(ControlTimeoutMs))
            return nullptr;
        if (control(QStringLiteral("wait")).value(0) == QStringLiteral("error"))
            return nullptr;
        return m_client.get();
    }
    m_server = std::make_unique<KeepAliveServer>();
    m_server->setKeepAliveOptions(shortOptions());
    m_lost = std::make_unique<QSignalSpy>(m_server.get(), &KeepAliveServer::clientLost);
    if (!m_server->listen(QHostAddress(m_hostAddress), 0))
        return nullptr;
    if (control(QStringLiteral("connect %1").arg(m_server->serverPort())).value(0)
        == QStringLiteral("error"))
        return nullptr;
    if (!QTest::qWaitFor([this] { return m_server->hasPendingConnections(); }, ControlTimeoutMs))
        return nullptr;
    return m_server->nextPendingConnection();
}

void tst_CrossFaults::sendPayload(KeepAliveSocket *socket)
{
    const QByteArray payload = peerPayload();
    QCOMPARE(control(QStringLiteral("send %1").arg(payload.size())), QStringList());
    QTRY_COMPARE_WITH_TIMEOUT(socket->bytesAvailable(), qint64(payload.size()), ControlTimeoutMs);
    QCOMPARE(socket->peek(payload.size()), payload);
}

// On the server side: clientLost() once, with the reason the client saw.
#define VERIFY_LOST(reason)                                                                        \
  do {                                                                                             \
    QFETCH(bool, server);                                                                          \
    if (server) {                                                                                  \
      QCOMPARE(m_lost->count(), 1);                                                                \
      QCOMPARE(m_lost->at(0).at(0).value<KeepAliveSocket *>(), socket);                            \
      QCOMPARE(m_lost->at(0).at(1).value<QtKeepAlive::ClientLossReason>(),                         \
               QtKeepAlive::clientLossReason(reason));                                             \
    }                                                                                              \
  } while (false)

void tst_CrossFaults::silentIdlePeer()
{
    KeepAliveSocket *socket = connectToPeer();
    QVERIFY(socket);
    Watch watch(socket);
    sendPayload(socket);
    QCOMPARE(control(QStringLiteral("silence")), QStringList());
    watch.clock.restart();
    const milliseconds bound = idleBound();
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, int((bound + 5s).count()));
    qInfo("silent idle peer: dead after %lld ms (Wine's bound: %lld ms, %d probes)",
          watch.deadPeerAt, qint64(bound.count()), m_hostProbes);
    const QString message =
            QStringLiteral("peer did not answer %1 keepalive probes (idle 1 s, interval 1 s)")
                    .arg(m_hostProbes);
    verifyDeath(watch, Reason::KeepAliveTimeout, QAbstractSocket::RemoteHostClosedError, message);
    // Not before the host's probes have run out, and within the bound (the
    // kernel's timer ticks add a little).
    QVERIFY2(watch.deadPeerAt >= (bound - 2s).count() && watch.deadPeerAt <= (bound + 3s).count(),
             qPrintable(QString::number(watch.deadPeerAt)));
    VERIFY_LOST(Reason::KeepAliveTimeout);
}

void tst_CrossFaults::silentBusyPeer()
{
    KeepAliveSocket *socket = connectToPeer();
    QVERIFY(socket);
    Watch watch(socket);
    sendPayload(socket);
    // Honest about what Wine cannot bound: no user timeout applied or read
    // back, no detection bound for data in flight.
    QCOMPARE(socket->keepAliveOptions().detectionBound(), milliseconds::max());
    QVERIFY(!socket->effectiveKeepAliveOptions().userTimeout.has_value());
    QCOMPARE(control(QStringLiteral("silence")), QStringList());
    // Sending every 200 ms: the data stays unacknowledged, so keepalive
    // never probes (no KeepAliveTimeout after the idle bound).
    QTimer sender;
    connect(&sender, &QTimer::timeout, socket, [socket] {
        if (socket->state() == QAbstractSocket::ConnectedState)
            socket->write(QByteArray(64, 'b'));
    });
    sender.start(200);
    QTest::qWait(int((idleBound() + 2s).count()));
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(socket->state(), QAbstractSocket::ConnectedState);
    // The host kernel's retransmission limit for this socket, 3 s from now
    // instead of ~15 minutes.
    QCOMPARE(control(QStringLiteral("usertimeout 3000")), QStringList());
    watch.clock.restart();
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 20000);
    sender.stop();
    qInfo("silent busy peer: dead %lld ms after the retransmission limit was set to 3 s "
          "(%lld ms after the silence)",
          watch.deadPeerAt, watch.deadPeerAt + qint64((idleBound() + 2s).count()));
    verifyDeath(watch, Reason::RetransmissionTimeout, QAbstractSocket::RemoteHostClosedError,
                QStringLiteral("peer did not acknowledge sent data within the system's "
                               "retransmission limit (no per-socket bound on this platform) "
                               "(idle 1 s, interval 1 s)"));
    VERIFY_LOST(Reason::RetransmissionTimeout);
}

void tst_CrossFaults::resetPeer()
{
    KeepAliveSocket *socket = connectToPeer();
    QVERIFY(socket);
    Watch watch(socket);
    sendPayload(socket);
    QCOMPARE(control(QStringLiteral("reset")), QStringList());
    watch.clock.restart();
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    qInfo("reset peer: reported after %lld ms", watch.deadPeerAt);
    verifyDeath(watch, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                resetMessage());
    VERIFY_LOST(Reason::ConnectionReset);
}

void tst_CrossFaults::orderlyClose()
{
    KeepAliveSocket *socket = connectToPeer();
    QVERIFY(socket);
    Watch watch(socket);
    sendPayload(socket);
    QCOMPARE(control(QStringLiteral("close")), QStringList());
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    // As a QTcpSocket: RemoteHostClosedError, the bytes kept, no dead peer.
    QTest::qWait(500);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(socket->deadPeerReason(), Reason::None);
    QCOMPARE(watch.error, QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(watch.readAtDisconnected, peerPayload());
    QFETCH(bool, server);
    if (server)
        QCOMPARE(m_lost->count(), 0);
}

void tst_CrossFaults::hungPeerHeartbeat()
{
    KeepAliveSocket *socket = connectToPeer();
    QVERIFY(socket);
    Watch watch(socket);
    sendPayload(socket);
    // The peer answers every ping until it is stopped; its kernel then
    // still acknowledges, so TCP sees nothing wrong.
    QCOMPARE(control(QStringLiteral("echo")), QStringList());
    auto *heartbeat = new KeepAliveHeartbeat(socket);
    QVERIFY(heartbeat->setInterval(1s));
    QVERIFY(heartbeat->setMaxMissed(2));
    QVERIFY(heartbeat->setJitter(0ms));
    heartbeat->setPingPayload(QByteArrayLiteral("PING\n"));
    // Answered pings are life: nothing happens while the peer runs.
    QTest::qWait(3500);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    // The echoes are not the test's payload: drop them, keep the payload.
    const QByteArray payload = peerPayload();
    QByteArray received = socket->readAll();
    QVERIFY(received.startsWith(payload));
    QCOMPARE(control(QStringLiteral("stop")), QStringList());
    watch.clock.restart();
    QTRY_COMPARE_WITH_TIMEOUT(watch.deadPeerSpy.count(), 1, 10000);
    qInfo("hung peer: heartbeat timeout after %lld ms (bound %lld ms)", watch.deadPeerAt,
          qint64(heartbeat->detectionBound().count()));
    QCOMPARE(watch.reasonArgument, Reason::HeartbeatTimeout);
    QCOMPARE(socket->deadPeerReason(), Reason::HeartbeatTimeout);
    QVERIFY(watch.deadPeerAt <= heartbeat->detectionBound().count() + 1000);
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    QCOMPARE(watch.events.first(), QStringLiteral("deadPeer"));
    QCOMPARE(watch.deadPeerSpy.count(), 1);
    VERIFY_LOST(Reason::HeartbeatTimeout);
}

void tst_CrossFaults::unreachablePeer()
{
    // host - router - peer: the peer's host vanishes and the router answers
    // for it with ICMP host unreachable. Linux (the host kernel under Wine)
    // ignores ICMP errors quoting a keepalive probe, so only data in flight
    // meets them: they become the socket's soft error, which the end of the
    // retransmission limit reports instead of a timeout.
    QVERIFY(setUpPeer(QStringLiteral("setup routed")));
    KeepAliveSocket *socket = connectToPeer();
    QVERIFY(socket);
    Watch watch(socket);
    sendPayload(socket);
    QCOMPARE(control(QStringLiteral("unreachable")), QStringList());
    QTimer sender;
    connect(&sender, &QTimer::timeout, socket, [socket] {
        if (socket->state() == QAbstractSocket::ConnectedState)
            socket->write(QByteArray(64, 'u'));
    });
    sender.start(200);
    // ICMP errors alone end nothing: TCP keeps retransmitting.
    QTest::qWait(3000);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(socket->state(), QAbstractSocket::ConnectedState);
    QCOMPARE(control(QStringLiteral("usertimeout 3000")), QStringList());
    watch.clock.restart();
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 20000);
    sender.stop();
    qInfo("unreachable peer: dead %lld ms after the retransmission limit was set to 3 s",
          watch.deadPeerAt);
    verifyDeath(watch, Reason::HostUnreachable, QAbstractSocket::RemoteHostClosedError,
                QStringLiteral("peer host unreachable (ICMP host unreachable until the system's "
                               "retransmission limit (no per-socket bound on this platform) "
                               "ended the connection)"));
    VERIFY_LOST(Reason::HostUnreachable);
}

// A server client that dies before the application takes it: reported once
// with its reason, out of the pending queue, freed by the server.
void tst_CrossFaults::pendingClientLost_data()
{
    QTest::addColumn<QString>("fault");
    QTest::addColumn<Reason>("reason");
    QTest::newRow("silent idle peer") << QStringLiteral("silence") << Reason::KeepAliveTimeout;
    QTest::newRow("reset") << QStringLiteral("reset") << Reason::ConnectionReset;
}

void tst_CrossFaults::pendingClientLost()
{
    QFETCH(QString, fault);
    QFETCH(Reason, reason);
    m_server = std::make_unique<KeepAliveServer>();
    QVERIFY(m_server->setKeepAliveOptions(shortOptions()));
    m_lost = std::make_unique<QSignalSpy>(m_server.get(), &KeepAliveServer::clientLost);
    QVERIFY(m_server->listen(QHostAddress(m_hostAddress), 0));
    QCOMPARE(control(QStringLiteral("connect %1").arg(m_server->serverPort())), QStringList());
    QTRY_COMPARE_WITH_TIMEOUT(m_server->clientCount(), 1, ControlTimeoutMs);
    const QList<KeepAliveSocket *> children = m_server->findChildren<KeepAliveSocket *>();
    QCOMPARE(children.size(), 1);
    const QPointer<KeepAliveSocket> pending = children.first();
    qint64 availableAtLost = -1;
    connect(m_server.get(), &KeepAliveServer::clientLost, this,
            [&](KeepAliveSocket *client) { availableAtLost = client->bytesAvailable(); });
    const QByteArray payload = peerPayload();
    QCOMPARE(control(QStringLiteral("send %1").arg(payload.size())), QStringList());
    QTRY_COMPARE_WITH_TIMEOUT(pending->bytesAvailable(), qint64(payload.size()), ControlTimeoutMs);

    QCOMPARE(control(fault), QStringList());
    QElapsedTimer clock;
    clock.start();
    QTRY_COMPARE_WITH_TIMEOUT(m_lost->count(), 1, int((idleBound() + 5s).count()));
    qInfo("pending client, %s: clientLost after %lld ms", qPrintable(fault), clock.elapsed());
    QCOMPARE(m_lost->at(0).at(1).value<QtKeepAlive::ClientLossReason>(),
             QtKeepAlive::clientLossReason(reason));
    QCOMPARE(availableAtLost, qint64(payload.size()));
    QVERIFY(!m_server->nextPendingConnection());
    QTRY_VERIFY_WITH_TIMEOUT(pending.isNull(), 2000);
    QCOMPARE(m_server->clientCount(), 0);
    QTest::qWait(500);
    QCOMPARE(m_lost->count(), 1);
}

QTEST_GUILESS_MAIN(tst_CrossFaults)
#include "tst_crossfaults.moc"
