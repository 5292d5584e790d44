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
// tests/auto/deadpeer.
//
// Without the helper (no KEEPALIVE_PEER_CONTROL) the test skips, except
// under CI=true, where a skip would hide a regression: it fails there.

#include "../shared/deadpeerwatch.h"
#include "../shared/peercontrol.h"
#include "../shared/tlsfixture.h"

#include <KeepAliveSslSocket>
#include <keepalivetesting.h>

#include <QtNetwork/QHostAddress>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>

using namespace DeadPeerTest;

namespace {

constexpr int ControlTimeoutMs = QtKeepAliveTesting::PeerControl::ControlTimeoutMs;

} // namespace

class tst_TlsPeers : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();

    void silentIdlePeer();
    void silentBusyPeer();
    void resetPeer();
    void peerExitsWithoutCloseNotify();

private:
    //! Sends \a line to the helper; the answer's values, or {"error"} after a warning.
    QStringList control(const QString &line);
    //! A KeepAliveSslSocket connected to s_server, encrypted, with the peer's payload read by Qt.
    KeepAliveSslSocket *connectToPeer();

    QtKeepAliveTesting::PeerControl m_control;
    bool m_available = false;
    QString m_peerAddress;
    quint16 m_tlsPort = 0;
    std::unique_ptr<KeepAliveSslSocket> m_client;
};

void tst_TlsPeers::initTestCase()
{
    VERIFY_TLS_AVAILABLE();
    OPEN_PEER_CONTROL(m_control);
    m_available = true;
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
    const TlsCredentials &credentials = TlsCredentials::instance();
    const QStringList server = control(
            QStringLiteral("tls-server %1 %2").arg(credentials.certificatePath, credentials.keyPath));
    QVERIFY(server.size() == 1);
    m_tlsPort = quint16(server.at(0).toUInt());
}

void tst_TlsPeers::cleanup()
{
    if (!m_available)
        return;
    m_client.reset();
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

void tst_TlsPeers::silentIdlePeer()
{
    KeepAliveSslSocket *client = connectToPeer();
    QVERIFY(client);
    QCOMPARE(client->effectiveKeepAliveOptions().userTimeout, std::chrono::milliseconds(3000));
    Watch watch(client);
    QCOMPARE(control(QStringLiteral("silence")), QStringList());

    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, int(boundMs()) + 5000);
    qInfo("s_server silent while idle: deadPeer after %lld ms from its last bytes, bound %lld ms",
          watch.deadPeerAt, boundMs());
    verifyDeath(watch, Reason::KeepAliveTimeout, QAbstractSocket::SocketTimeoutError,
                keepAliveTimeoutMessage());
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(watch.deadPeerAt >= boundMs() * 9 / 10, qPrintable(QString::number(watch.deadPeerAt)));
    QVERIFY2(watch.deadPeerAt <= boundMs() + 1000, qPrintable(QString::number(watch.deadPeerAt)));
}

void tst_TlsPeers::silentBusyPeer()
{
    KeepAliveSslSocket *client = connectToPeer();
    QVERIFY(client);
    Watch watch(client);
    QCOMPARE(control(QStringLiteral("silence")), QStringList());
    watch.clock.start();
    QCOMPARE(client->write("request"), qint64(7));
    QVERIFY(client->flush());

    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, int(boundMs()) + 5000);
    qInfo("s_server silent with data in flight: deadPeer after %lld ms from the write, bound "
          "%lld ms",
          watch.deadPeerAt, boundMs());
    verifyDeath(watch, Reason::RetransmissionTimeout, QAbstractSocket::SocketTimeoutError,
                retransmissionTimeoutMessage());
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(watch.deadPeerAt >= boundMs() * 9 / 10, qPrintable(QString::number(watch.deadPeerAt)));
    QVERIFY2(watch.deadPeerAt <= boundMs() + 1500, qPrintable(QString::number(watch.deadPeerAt)));
}

void tst_TlsPeers::resetPeer()
{
    KeepAliveSslSocket *client = connectToPeer();
    QVERIFY(client);
    Watch watch(client);
    watch.clock.start();
    QCOMPARE(control(QStringLiteral("kill-connections")), QStringList());

    QTRY_COMPARE_WITH_TIMEOUT(watch.disconnectedSpy.count(), 1, 5000);
    qInfo("s_server's connection aborted (ss -K): deadPeer after %lld ms", watch.deadPeerAt);
    verifyDeath(watch, Reason::ConnectionReset, QAbstractSocket::RemoteHostClosedError,
                resetMessage());
    if (QTest::currentTestFailed())
        return;
    QVERIFY2(watch.deadPeerAt <= 1000, qPrintable(QString::number(watch.deadPeerAt)));
}

void tst_TlsPeers::peerExitsWithoutCloseNotify()
{
    KeepAliveSslSocket *client = connectToPeer();
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
}

QTEST_GUILESS_MAIN(tst_TlsPeers)
#include "tst_tlspeers.moc"
