// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// KeepAliveSslSocket against a third-party TLS peer: `openssl s_server` in a
// network namespace of its own, made and driven by peerhelper.py (root; see
// tests/auto/crossfaults), which started this program. The faults are made
// for real on the Linux side: the peer's link goes down (a pulled cable: the
// peer drops everything and never answers), its kernel aborts the
// connection (`ss -K`: a RST), its process is killed (a FIN without TLS
// close_notify).
//
// The peer sends 1,500 bytes of the test pattern before every fault; they
// must be readable, decrypted, in the deadPeer() and disconnected()
// handlers. Keepalive settings: idle 1 s, interval 1 s, 2 probes, automatic
// user timeout, so the detection bound is 3 s, as for the plain sockets of
// tests/auto/socket/deadpeer.
//
// KeepAliveSslServer against `openssl s_client` in the namespace: the same
// faults, on the server's side (clientLost() with the reason, as deadPeer()).
//
// Built for Windows, the test runs under Wine as tests/auto/crossfaults does
// (Qt's Schannel backend, the host's network stack), with what Wine bounds:
// an idle peer is declared dead after idle + the host's probe count ×
// interval (Wine leaves the host kernel's probe count in force), and nothing
// bounds data in flight (Wine refuses TCP_MAXRT) until the helper shortens
// the host kernel's retransmission limit for our socket. The server's rows
// are not run there: Wine cannot serve TLS through Schannel as Qt 6.4 asks
// it to (see addSides()).
//
// Without the helper (no KEEPALIVE_PEER_CONTROL) the test skips, except
// under CI=true, where a skip would hide a regression: it fails there.

#include "../../shared/deadpeerwatch.h"
#include "../../shared/peercontrol.h"
#include "../../shared/tlsfixture.h"

#include <KeepAliveSslServer>
#include <KeepAliveSslSocket>
#include <keepalivetesting.h>

#include <QtNetwork/QHostAddress>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>

using namespace DeadPeerTest;

namespace {

constexpr int ControlTimeoutMs = QtKeepAliveTesting::PeerControl::ControlTimeoutMs;

#if defined(Q_OS_WIN)
constexpr bool UnderWine = true; // the only way this test runs on Windows (see CMakeLists.txt)
#else
constexpr bool UnderWine = false;
#endif

} // namespace

class tst_TlsPeers : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    // Each for our client against s_server and our server against s_client.
    void silentIdlePeer_data();
    void silentIdlePeer();
    void silentBusyPeer_data();
    void silentBusyPeer();
    void resetPeer_data();
    void resetPeer();
    void peerExitsWithoutCloseNotify_data();
    void peerExitsWithoutCloseNotify();

private:
    //! Sends \a line to the helper; the answer's values, or {"error"} after a warning.
    QStringList control(const QString &line);
    //! A KeepAliveSslSocket connected to s_server, encrypted, with the peer's payload read by Qt.
    KeepAliveSslSocket *connectToPeer();
    /*!
        A KeepAliveSslServer on the host's address, s_client connected to it
        from the namespace: the server's side of that client, encrypted, with
        s_client's payload read by Qt. clientLost() is recorded in m_lost.
    */
    KeepAliveSslSocket *acceptFromPeer();
    //! The rows: our client (against s_server), our server (against s_client).
    static void addSides();
    //! connectToPeer() or acceptFromPeer(), as the row says.
    KeepAliveSslSocket *openConnection();
    //! What the server reported for the row's fault: nothing for our client.
    QList<QtKeepAlive::ClientLossReason> expectedLosses(QtKeepAlive::ClientLossReason reason) const;
    //! The third-party peer of the row.
    const char *peerName() const { return m_server ? "s_client" : "s_server"; }
    //! When an idle peer is declared dead: under Wine after the host kernel's probes.
    qint64 idleBoundMs() const { return UnderWine ? 1000 + 1000 * m_hostProbes : boundMs(); }
    //! With our data in flight: the user timeout, under Wine the helper's limit (as long).
    static qint64 busyBoundMs() { return UnderWine ? 3000 : boundMs(); }

    QtKeepAliveTesting::PeerControl m_control;
    bool m_available = false;
    QString m_peerAddress;
    QString m_hostAddress;
    int m_hostProbes = 0;
    std::unique_ptr<KeepAliveSslServer> m_server;
    QList<QtKeepAlive::ClientLossReason> m_lost;
    quint16 m_tlsPort = 0;
    std::unique_ptr<KeepAliveSslSocket> m_client;
};

void tst_TlsPeers::initTestCase()
{
    VERIFY_TLS_AVAILABLE();
    OPEN_PEER_CONTROL(m_control);
    m_available = true;
    if (UnderWine) {
        // SIO_KEEPALIVE_VALS: no probe count and no retransmission bound per socket.
        QVERIFY(!KeepAliveOptions::supportedFields().testFlag(KeepAliveOptions::Field::ProbeCount));
        QVERIFY(!KeepAliveOptions::supportedFields().testFlag(KeepAliveOptions::Field::UserTimeout));
    }
}

QStringList tst_TlsPeers::control(const QString &line)
{
    return peerCommand(m_control, line);
}

void tst_TlsPeers::init()
{
    const QStringList setup = control(QStringLiteral("setup"));
    QVERIFY(setup.size() == 4);
    m_peerAddress = setup.at(0);
    m_hostAddress = setup.at(2);
    m_hostProbes = setup.at(3).toInt();
    m_lost.clear();
    // s_server's certificate is the helper's, TlsCredentials' too (see tlsfixture.h).
    const QStringList tlsServer = control(QStringLiteral("tls-server"));
    QVERIFY(tlsServer.size() == 1);
    m_tlsPort = quint16(tlsServer.at(0).toUInt());
}

void tst_TlsPeers::cleanup()
{
    if (!m_available)
        return;
    m_client.reset();
    m_server.reset();
    control(QStringLiteral("teardown"));
}

KeepAliveSslSocket *tst_TlsPeers::connectToPeer()
{
    m_client = std::make_unique<KeepAliveSslSocket>();
    trustTestCertificate(*m_client);
    if (!m_client->setKeepAliveOptions(shortOptions()))
        qWarning().noquote() << m_client->keepAliveErrorString();
    m_client->connectToHostEncrypted(m_peerAddress, m_tlsPort);
    if (!QTest::qWaitFor([this] { return m_client->isEncrypted(); }, ControlTimeoutMs)) {
        qWarning() << "no TLS session with s_server:" << m_client->errorString();
        return nullptr;
    }
    const QByteArray payload = peerPayload();
    if (control(QStringLiteral("tls-send %1").arg(payload.size())).value(0)
        == QStringLiteral("error"))
        return nullptr;
    if (!QTest::qWaitFor([&] { return m_client->bytesAvailable() >= payload.size(); },
                         ControlTimeoutMs)
        || m_client->peek(payload.size() + 1) != payload) {
        qWarning() << "s_server's payload did not arrive intact:" << m_client->bytesAvailable();
        return nullptr;
    }
    return m_client.get();
}

KeepAliveSslSocket *tst_TlsPeers::acceptFromPeer()
{
    m_server = std::make_unique<KeepAliveSslServer>();
    const TlsCredentials &credentials = TlsCredentials::instance();
    QSslConfiguration configuration = QSslConfiguration::defaultConfiguration();
    configuration.setLocalCertificate(credentials.certificate);
    configuration.setPrivateKey(credentials.key);
    configuration.setPeerVerifyMode(QSslSocket::VerifyNone);
    m_server->setSslConfiguration(configuration);
    if (!m_server->setKeepAliveOptions(shortOptions())
        || !m_server->listen(QHostAddress(m_hostAddress), 0)) {
        qWarning() << "cannot listen on" << m_hostAddress << m_server->errorString();
        return nullptr;
    }
    connect(m_server.get(), &KeepAliveSslServer::clientLost, this,
            [this](KeepAliveSslSocket *, QtKeepAlive::ClientLossReason reason) {
                m_lost << reason;
            });
    if (control(QStringLiteral("tls-client %1").arg(m_server->serverPort())).value(0)
        == QStringLiteral("error"))
        return nullptr;
    if (!QTest::qWaitFor([this] { return m_server->hasPendingConnections(); }, ControlTimeoutMs)) {
        qWarning() << "s_client's handshake did not finish; lost:" << m_lost;
        return nullptr;
    }
    KeepAliveSslSocket *client = m_server->nextPendingConnection();
    const QByteArray payload = peerPayload();
    if (control(QStringLiteral("tls-send %1").arg(payload.size())).value(0)
        == QStringLiteral("error"))
        return nullptr;
    if (!QTest::qWaitFor([&] { return client->bytesAvailable() >= payload.size(); },
                         ControlTimeoutMs)
        || client->peek(payload.size() + 1) != payload) {
        qWarning() << "s_client's payload did not arrive intact:" << client->bytesAvailable();
        return nullptr;
    }
    return client;
}

void tst_TlsPeers::addSides()
{
    QTest::addColumn<bool>("server");
    QTest::newRow("KeepAliveSslSocket vs s_server") << false;
    // Not under Wine: Qt 6.4's Schannel backend hands a server certificate
    // to Schannel through CertFindChainInStore(), a stub in Wine 8 ("The
    // certificate provided cannot be used for a server."), and its PKCS#12
    // export of the key takes RSA and DSA keys only ("Failed to load
    // certificate chain!" for this EC key; the handshake never ends).
    if (!UnderWine)
        QTest::newRow("KeepAliveSslServer vs s_client") << true;
}

KeepAliveSslSocket *tst_TlsPeers::openConnection()
{
    QFETCH(bool, server);
    return server ? acceptFromPeer() : connectToPeer();
}

QList<QtKeepAlive::ClientLossReason>
tst_TlsPeers::expectedLosses(QtKeepAlive::ClientLossReason reason) const
{
    if (!m_server)
        return {};
    return {reason};
}

void tst_TlsPeers::silentIdlePeer_data()
{
    addSides();
}

void tst_TlsPeers::silentIdlePeer()
{
    KeepAliveSslSocket *client = openConnection();
    QVERIFY(client);
    if (UnderWine) {
        // No user timeout; and no count of unacknowledged data, but the
        // peer's payload came after our last handshake bytes had arrived.
        QVERIFY(!client->effectiveKeepAliveOptions().userTimeout.has_value());
    } else {
        QCOMPARE(client->effectiveKeepAliveOptions().userTimeout, std::chrono::milliseconds(3000));
        // Idle: nothing of ours in flight (the server's TLS 1.3 session tickets, say).
        QTRY_COMPARE_WITH_TIMEOUT(client->connectionHealth().unackedSegments.value_or(1),
                                  quint32(0), 5000);
    }
    Watch watch(client);
    QCOMPARE(control(QStringLiteral("silence")), QStringList());

    const qint64 bound = idleBoundMs();
    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, int(bound) + 5000);
    qInfo("%s silent while idle: deadPeer after %lld ms from its last bytes, bound %lld ms",
          peerName(), watch.deadPeerAt, bound);
    QCOMPARE(m_lost, expectedLosses(QtKeepAlive::ClientLossReason::KeepAliveTimeout));
    if (UnderWine) {
        verifyDeath(watch, Reason::KeepAliveTimeout, QAbstractSocket::RemoteHostClosedError,
                    QStringLiteral("peer did not answer %1 keepalive probes (idle 1 s, interval "
                                   "1 s)")
                            .arg(m_hostProbes));
    } else {
        verifyDeath(watch, Reason::KeepAliveTimeout, QAbstractSocket::SocketTimeoutError,
                    keepAliveTimeoutMessage());
    }
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(watch.deadPeerAt >= bound * 9 / 10, qPrintable(QString::number(watch.deadPeerAt)));
    QVERIFY2(watch.deadPeerAt <= bound + 1000, qPrintable(QString::number(watch.deadPeerAt)));
}

void tst_TlsPeers::silentBusyPeer_data()
{
    addSides();
}

void tst_TlsPeers::silentBusyPeer()
{
    KeepAliveSslSocket *client = openConnection();
    QVERIFY(client);
    Watch watch(client);
    QCOMPARE(control(QStringLiteral("silence")), QStringList());
    watch.clock.start();
    QCOMPARE(client->write("request"), qint64(7));
    QVERIFY(client->flush());
    const qint64 bound = busyBoundMs();
    if (UnderWine) {
        // Honest about what Wine cannot bound: no user timeout applied, no
        // detection bound for data in flight. The helper then gives the
        // host kernel's retransmission limit for this socket the 3 s the
        // library's user timeout gives elsewhere (counted from the write).
        QCOMPARE(client->keepAliveOptions().detectionBound(), std::chrono::milliseconds::max());
        QVERIFY(!client->effectiveKeepAliveOptions().userTimeout.has_value());
        QCOMPARE(control(QStringLiteral("usertimeout %1").arg(bound)), QStringList());
    }

    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, int(bound) + 5000);
    qInfo("%s silent with data in flight: deadPeer after %lld ms from the write, bound %lld ms",
          peerName(), watch.deadPeerAt, bound);
    QCOMPARE(m_lost, expectedLosses(QtKeepAlive::ClientLossReason::RetransmissionTimeout));
    if (UnderWine) {
        verifyDeath(watch, Reason::RetransmissionTimeout, QAbstractSocket::RemoteHostClosedError,
                    QStringLiteral("peer did not acknowledge sent data within the system's "
                                   "retransmission limit (no per-socket bound on this platform) "
                                   "(idle 1 s, interval 1 s)"));
    } else {
        verifyDeath(watch, Reason::RetransmissionTimeout, QAbstractSocket::SocketTimeoutError,
                    retransmissionTimeoutMessage());
    }
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(watch.deadPeerAt >= bound * 9 / 10, qPrintable(QString::number(watch.deadPeerAt)));
    QVERIFY2(watch.deadPeerAt <= bound + 1500, qPrintable(QString::number(watch.deadPeerAt)));
}

void tst_TlsPeers::resetPeer_data()
{
    addSides();
}

void tst_TlsPeers::resetPeer()
{
    KeepAliveSslSocket *client = openConnection();
    QVERIFY(client);
    Watch watch(client);
    watch.clock.start();
    QCOMPARE(control(QStringLiteral("kill-connections")), QStringList());

    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    qInfo("%s's connection aborted (ss -K): deadPeer after %lld ms", peerName(), watch.deadPeerAt);
    QCOMPARE(m_lost, expectedLosses(QtKeepAlive::ClientLossReason::ConnectionReset));
    verifyDeath(watch, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                resetMessage());
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(watch.deadPeerAt <= 1000, qPrintable(QString::number(watch.deadPeerAt)));
}

void tst_TlsPeers::peerExitsWithoutCloseNotify_data()
{
    addSides();
}

void tst_TlsPeers::peerExitsWithoutCloseNotify()
{
    KeepAliveSslSocket *client = openConnection();
    QVERIFY(client);
    Watch watch(client);
    QSignalSpy truncated(client, &KeepAliveSslSocket::closeTruncated);
    QCOMPARE(control(QStringLiteral("tls-exit")), QStringList());

    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    // Telling the closes apart needs the TCP connection under TLS: not in
    // the public-API-only mode, where the header says it is never reported.
    const bool told = !publicApiOnly();
    QCOMPARE(truncated.count(), told ? 1 : 0);
    QCOMPARE(client->isCloseTruncated(), told);
    QCOMPARE(watch.deadPeerSpy.count(), 0);
    QCOMPARE(client->deadPeerReason(), Reason::None);
    QCOMPARE(watch.error, QAbstractSocket::RemoteHostClosedError);
    QCOMPARE(watch.readAtDisconnected, peerPayload());
    QVERIFY(m_lost.isEmpty()); // an orderly-looking close is no loss
    if (m_server)
        QCOMPARE(m_server->clientCount(), 0);
}

QTEST_GUILESS_MAIN(tst_TlsPeers)
#include "tst_tlspeers.moc"
