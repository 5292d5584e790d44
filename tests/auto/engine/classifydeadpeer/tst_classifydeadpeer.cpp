// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// The one place that turns the kernel's evidence of a dead connection into a
// DeadPeerReason, and the errorString() that goes with it, tested directly
// with the evidence the real deaths leave (measured on Linux: a keepalive death leaves
// tcpi_probes > 0 and tcpi_retransmits 0, a retransmission death the
// opposite; ECONNRESET reads as RemoteHostClosedError; EHOSTUNREACH and
// ENETUNREACH as NetworkError).

#include "deathclassification_p.h"

#include <QtTest/QtTest>

#include <chrono>

using namespace std::chrono;
using namespace std::chrono_literals;

using Reason = QtKeepAlive::DeadPeerReason;
using OsError = KeepAlivePlatform::OsError;
using SocketError = QAbstractSocket::SocketError;

Q_DECLARE_METATYPE(DeathEvidence)
Q_DECLARE_METATYPE(KeepAlivePlatform::OsError)

namespace {

// TCP_INFO of a connection the kernel has just closed.
ConnectionHealth closedHealth(int probes, int retransmits, int backoff)
{
    ConnectionHealth health;
    health.state = ConnectionHealth::TcpState::Closed;
    health.rtt = 50us;
    health.rttVariance = 25us;
    health.probes = probes;
    health.retransmits = retransmits;
    health.backoff = backoff;
    health.unackedSegments = 0u; // already 0 after the death
    health.totalRetransmits = quint32(retransmits);
    return health;
}

DeathEvidence evidence(const ConnectionHealth &health, bool sendStalled = false,
                       bool dataOutstanding = false)
{
    DeathEvidence e;
    e.health = health;
    e.sendStalled = sendStalled;
    e.dataOutstanding = dataOutstanding;
    return e;
}

const DeathEvidence keepAliveDeath = evidence(closedHealth(2, 0, 0));
const DeathEvidence retransmissionDeath = evidence(closedHealth(0, 4, 4));
const DeathEvidence noHealth = evidence(ConnectionHealth());

// A death that Qt's read met without a look: the state is all that is known.
DeathEvidence unlooked(bool dataOutstanding, bool keepAliveOff)
{
    ConnectionHealth health;
    health.state = ConnectionHealth::TcpState::Closed;
    DeathEvidence e = evidence(health, false, dataOutstanding);
    e.keepAliveOff = keepAliveOff;
    return e;
}

KeepAliveOptions chosenOptions()
{
    return KeepAliveOptions().setIdle(10s).setInterval(2s).setProbeCount(3);
}

} // namespace

class tst_ClassifyDeadPeer : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void classify_data();
    void classify();
    void classifyErrorSeenBeforeRead_data();
    void classifyErrorSeenBeforeRead();
    void classifyErrorLookedBeforeRead_data();
    void classifyErrorLookedBeforeRead();
    void message_data();
    void message();
    void messageNamesSettingsAsApplied_data();
    void messageNamesSettingsAsApplied();
    void referenceTableMatches();
    void heartbeatMessage();
    void osErrorAfterClose_data();
    void osErrorAfterClose();
    void osErrorAfterCloseOfTheWritePath();
};

void tst_ClassifyDeadPeer::classify_data()
{
    QTest::addColumn<SocketError>("qtError");
    QTest::addColumn<OsError>("osError");
    QTest::addColumn<DeathEvidence>("evidence");
    QTest::addColumn<Reason>("expected");

    // ETIMEDOUT: which timer expired.
    QTest::newRow("timeout, probes sent, no retransmits")
            << QAbstractSocket::SocketTimeoutError << OsError::TimedOut << keepAliveDeath
            << Reason::KeepAliveTimeout;
    QTest::newRow("timeout, retransmits > 0")
            << QAbstractSocket::SocketTimeoutError << OsError::TimedOut << retransmissionDeath
            << Reason::RetransmissionTimeout;
    QTest::newRow("timeout, retransmits > 0 only")
            << QAbstractSocket::SocketTimeoutError << OsError::TimedOut
            << evidence(closedHealth(0, 1, 0)) << Reason::RetransmissionTimeout;
    // Zero-window probes count in tcpi_probes too, but back off like retransmissions.
    QTest::newRow("timeout, backoff > 0 only")
            << QAbstractSocket::SocketTimeoutError << OsError::TimedOut
            << evidence(closedHealth(3, 0, 2)) << Reason::RetransmissionTimeout;
    QTest::newRow("timeout, zero-window stall")
            << QAbstractSocket::SocketTimeoutError << OsError::TimedOut
            << evidence(closedHealth(2, 0, 0), true) << Reason::RetransmissionTimeout;
    QTest::newRow("timeout, no TCP_INFO, data outstanding")
            << QAbstractSocket::SocketTimeoutError << OsError::TimedOut
            << evidence(ConnectionHealth(), false, true) << Reason::RetransmissionTimeout;
    QTest::newRow("timeout, no TCP_INFO, nothing outstanding")
            << QAbstractSocket::SocketTimeoutError << OsError::TimedOut << noHealth
            << Reason::KeepAliveTimeout;
    // TCP_INFO, when there is one, is the better witness than our own timer.
    QTest::newRow("timeout, TCP_INFO says probes, data was outstanding")
            << QAbstractSocket::SocketTimeoutError << OsError::TimedOut
            << evidence(closedHealth(2, 0, 0), false, true) << Reason::KeepAliveTimeout;
    // Met without a look (a read notification in the middle of activity):
    // only the state is known, the stall watch and the options tell the rest.
    QTest::newRow("timeout, unlooked, nothing outstanding")
            << QAbstractSocket::SocketTimeoutError << OsError::TimedOut << unlooked(false, false)
            << Reason::KeepAliveTimeout;
    QTest::newRow("timeout, unlooked, data outstanding")
            << QAbstractSocket::SocketTimeoutError << OsError::TimedOut << unlooked(true, false)
            << Reason::RetransmissionTimeout;
    QTest::newRow("timeout, unlooked, keepalive off")
            << QAbstractSocket::SocketTimeoutError << OsError::TimedOut << unlooked(false, true)
            << Reason::RetransmissionTimeout;
    QTest::newRow("timeout, errno clobbered")
            << QAbstractSocket::SocketTimeoutError << OsError::None << keepAliveDeath
            << Reason::KeepAliveTimeout;

    // ECONNRESET (read as "0 bytes"). The error is cleared before Qt's read:
    // still None afterwards, the read met an orderly end-of-file (a FIN came
    // before whatever the kernel held after it).
    QTest::newRow("reset") << QAbstractSocket::RemoteHostClosedError << OsError::Reset << noHealth
                           << Reason::ConnectionReset;
    QTest::newRow("end-of-file before a pending error")
            << QAbstractSocket::RemoteHostClosedError << OsError::None << keepAliveDeath
            << Reason::None;
    QTest::newRow("reset, errno clobbered")
            << QAbstractSocket::RemoteHostClosedError << OsError::Other << noHealth
            << Reason::ConnectionReset;
    QTest::newRow("reset with TCP_INFO of a keepalive death")
            << QAbstractSocket::RemoteHostClosedError << OsError::Reset << keepAliveDeath
            << Reason::ConnectionReset;
    // EPIPE: a RST that answered our data after the peer's FIN. The peer closed.
    QTest::newRow("EPIPE as NetworkError")
            << QAbstractSocket::NetworkError << OsError::PeerClosed << noHealth << Reason::None;
    // Qt's write path reads EPIPE as RemoteHostClosedError.
    QTest::newRow("EPIPE on Qt's write path") << QAbstractSocket::RemoteHostClosedError
                                              << OsError::PeerClosed << noHealth << Reason::None;

    // A pending ICMP error decided it.
    QTest::newRow("host unreachable") << QAbstractSocket::NetworkError << OsError::HostUnreachable
                                      << keepAliveDeath << Reason::HostUnreachable;
    QTest::newRow("network unreachable")
            << QAbstractSocket::NetworkError << OsError::NetworkUnreachable << keepAliveDeath
            << Reason::NetworkUnreachable;
    QTest::newRow("other network error")
            << QAbstractSocket::NetworkError << OsError::Other << noHealth << Reason::OtherError;
    QTest::newRow("network error, errno clobbered")
            << QAbstractSocket::NetworkError << OsError::None << noHealth << Reason::OtherError;

    // An errno that does not match Qt's error code was overwritten after the
    // failed read: Qt's code decides.
    QTest::newRow("ETIMEDOUT with NetworkError")
            << QAbstractSocket::NetworkError << OsError::TimedOut << keepAliveDeath
            << Reason::OtherError;
    QTest::newRow("ECONNRESET with SocketTimeoutError")
            << QAbstractSocket::SocketTimeoutError << OsError::Reset << keepAliveDeath
            << Reason::KeepAliveTimeout;
    QTest::newRow("EHOSTUNREACH with SocketTimeoutError")
            << QAbstractSocket::SocketTimeoutError << OsError::HostUnreachable
            << retransmissionDeath << Reason::RetransmissionTimeout;
    QTest::newRow("ETIMEDOUT with RemoteHostClosedError")
            << QAbstractSocket::RemoteHostClosedError << OsError::TimedOut << keepAliveDeath
            << Reason::ConnectionReset;
    QTest::newRow("EHOSTUNREACH with RemoteHostClosedError")
            << QAbstractSocket::RemoteHostClosedError << OsError::HostUnreachable << noHealth
            << Reason::ConnectionReset;

    // Not a dead peer at all.
    QTest::newRow("connection refused")
            << QAbstractSocket::ConnectionRefusedError << OsError::None << noHealth << Reason::None;
    QTest::newRow("connection refused with a stray errno")
            << QAbstractSocket::ConnectionRefusedError << OsError::Other << noHealth
            << Reason::None;
    QTest::newRow("host not found")
            << QAbstractSocket::HostNotFoundError << OsError::None << noHealth << Reason::None;
    QTest::newRow("operation error") << QAbstractSocket::OperationError << OsError::TimedOut
                                     << keepAliveDeath << Reason::None;
}

void tst_ClassifyDeadPeer::classify()
{
    QFETCH(SocketError, qtError);
    QFETCH(OsError, osError);
    QFETCH(DeathEvidence, evidence);
    QFETCH(Reason, expected);

    // The rules for the error of Qt's own failing read (POSIX errno); the
    // running platform's choice of source is checked below.
    QCOMPARE(classifyDeadPeer(qtError, osError, evidence, OsErrorSource::QtRead), expected);
    const OsErrorSource running =
            osErrorSurvivesQtRead() ? OsErrorSource::QtRead : OsErrorSource::LookedBeforeRead;
    QCOMPARE(classifyDeadPeer(qtError, osError, evidence),
             classifyDeadPeer(qtError, osError, evidence, running));
}

void tst_ClassifyDeadPeer::classifyErrorSeenBeforeRead_data()
{
    QTest::addColumn<SocketError>("qtError");
    QTest::addColumn<OsError>("osError");
    QTest::addColumn<DeathEvidence>("evidence");
    QTest::addColumn<Reason>("expected");

    // Windows (qnativesocketengine_win.cpp): Qt never reports
    // SocketTimeoutError; the error hasPendingError() saw before Qt's read
    // (WSAETIMEDOUT, WSAENETRESET, WSAECONNABORTED: TimedOut) decides.
    ConnectionHealth windowsClosed; // SIO_TCP_INFO: no retransmit, probe or backoff counters
    windowsClosed.state = ConnectionHealth::TcpState::Closed;
    windowsClosed.unackedSegments = 0u;
    QTest::newRow("WSAETIMEDOUT read as NetworkError: keepalive timeout")
            << QAbstractSocket::NetworkError << OsError::TimedOut << evidence(windowsClosed)
            << Reason::KeepAliveTimeout;
    // Wine: recv() gives 0 after a keepalive death, which Qt reads as a close.
    QTest::newRow("timeout whose recv() gave 0: keepalive timeout, not a reset")
            << QAbstractSocket::RemoteHostClosedError << OsError::TimedOut << noHealth
            << Reason::KeepAliveTimeout;
    QTest::newRow("WSAECONNABORTED read as RemoteHostClosedError, data in flight")
            << QAbstractSocket::RemoteHostClosedError << OsError::TimedOut
            << evidence(windowsClosed, false, true) << Reason::RetransmissionTimeout;
    ConnectionHealth windowsBusy = windowsClosed;
    windowsBusy.unackedSegments = 3u;
    QTest::newRow("timeout with bytes in flight (no counters): retransmission timeout")
            << QAbstractSocket::NetworkError << OsError::TimedOut << evidence(windowsBusy)
            << Reason::RetransmissionTimeout;
    QTest::newRow("WSAECONNRESET: reset") << QAbstractSocket::RemoteHostClosedError
                                          << OsError::Reset << noHealth << Reason::ConnectionReset;
    QTest::newRow("WSAEHOSTUNREACH read as NetworkError")
            << QAbstractSocket::NetworkError << OsError::HostUnreachable << noHealth
            << Reason::HostUnreachable;
    QTest::newRow("WSAENETDOWN read as NetworkError")
            << QAbstractSocket::NetworkError << OsError::NetworkUnreachable << noHealth
            << Reason::NetworkUnreachable;
    // Nothing seen before the read: Qt's code is all there is.
    QTest::newRow("nothing seen, NetworkError")
            << QAbstractSocket::NetworkError << OsError::None << noHealth << Reason::OtherError;
    QTest::newRow("nothing seen, RemoteHostClosedError")
            << QAbstractSocket::RemoteHostClosedError << OsError::None << noHealth
            << Reason::ConnectionReset;
}

void tst_ClassifyDeadPeer::classifyErrorSeenBeforeRead()
{
    QFETCH(SocketError, qtError);
    QFETCH(OsError, osError);
    QFETCH(DeathEvidence, evidence);
    QFETCH(Reason, expected);

    QCOMPARE(classifyDeadPeer(qtError, osError, evidence, OsErrorSource::SeenBeforeRead), expected);
    // The same evidence as a POSIX read error is checked against Qt's code.
    if (osError == OsError::TimedOut && qtError != QAbstractSocket::SocketTimeoutError)
        QVERIFY(classifyDeadPeer(qtError, osError, evidence, OsErrorSource::QtRead)
                != Reason::KeepAliveTimeout);
}

void tst_ClassifyDeadPeer::classifyErrorLookedBeforeRead_data()
{
    QTest::addColumn<SocketError>("qtError");
    QTest::addColumn<OsError>("osError");
    QTest::addColumn<DeathEvidence>("evidence");
    QTest::addColumn<Reason>("expected");

    // Windows: every notification looks just before Qt's read, and Qt's
    // engine reads a FIN, a reset and (Wine) a keepalive death all as 0 bytes,
    // RemoteHostClosedError. What the look saw decides.
    QTest::newRow("nothing pending, 0 bytes read: the peer's FIN, no dead peer")
            << QAbstractSocket::RemoteHostClosedError << OsError::None << noHealth << Reason::None;
    QTest::newRow("nothing pending, then NetworkError: an error after the look")
            << QAbstractSocket::NetworkError << OsError::None << noHealth << Reason::OtherError;
    QTest::newRow("WSAETIMEDOUT seen, 0 bytes read (Wine): keepalive timeout")
            << QAbstractSocket::RemoteHostClosedError << OsError::TimedOut << noHealth
            << Reason::KeepAliveTimeout;
    // No SIO_TCP_INFO (Wine): the last write, recent at the death, shows data in flight.
    QTest::newRow("WSAETIMEDOUT seen, data outstanding: retransmission timeout")
            << QAbstractSocket::RemoteHostClosedError << OsError::TimedOut
            << evidence(ConnectionHealth(), false, true) << Reason::RetransmissionTimeout;
    QTest::newRow("WSAECONNRESET (POLLERR) seen: reset")
            << QAbstractSocket::RemoteHostClosedError << OsError::Reset << noHealth
            << Reason::ConnectionReset;
    QTest::newRow("WSAEHOSTUNREACH seen")
            << QAbstractSocket::NetworkError << OsError::HostUnreachable << noHealth
            << Reason::HostUnreachable;
}

void tst_ClassifyDeadPeer::classifyErrorLookedBeforeRead()
{
    QFETCH(SocketError, qtError);
    QFETCH(OsError, osError);
    QFETCH(DeathEvidence, evidence);
    QFETCH(Reason, expected);

    QCOMPARE(classifyDeadPeer(qtError, osError, evidence, OsErrorSource::LookedBeforeRead),
             expected);
}

void tst_ClassifyDeadPeer::message_data()
{
    QTest::addColumn<Reason>("reason");
    QTest::addColumn<KeepAliveOptions>("applied");
    QTest::addColumn<DeathEvidence>("evidence");
    QTest::addColumn<QString>("expected");

    const KeepAliveOptions chosen = chosenOptions();
    const QString qtText = QStringLiteral("The remote host closed the connection");

    QTest::newRow("keepalive, probes from TCP_INFO")
            << Reason::KeepAliveTimeout << chosen << evidence(closedHealth(3, 0, 0))
            << QStringLiteral("peer did not answer 3 keepalive probes (idle 10 s, interval 2 s)");
    // With TCP_USER_TIMEOUT the kernel may give up before the probe count.
    QTest::newRow("keepalive, fewer probes than configured")
            << Reason::KeepAliveTimeout << chosen << evidence(closedHealth(2, 0, 0))
            << QStringLiteral("peer did not answer 2 keepalive probes (idle 10 s, interval 2 s)");
    QTest::newRow("keepalive, a single probe")
            << Reason::KeepAliveTimeout << KeepAliveOptions(chosen).setProbeCount(1) << noHealth
            << QStringLiteral("peer did not answer 1 keepalive probe (idle 10 s, interval 2 s)");
    QTest::newRow("keepalive, no TCP_INFO: the configured count")
            << Reason::KeepAliveTimeout << chosen << noHealth
            << QStringLiteral("peer did not answer 3 keepalive probes (idle 10 s, interval 2 s)");
    QTest::newRow("keepalive, other settings")
            << Reason::KeepAliveTimeout
            << KeepAliveOptions().setIdle(60s).setInterval(15s).setProbeCount(5) << noHealth
            << QStringLiteral("peer did not answer 5 keepalive probes (idle 60 s, interval 15 s)");
    QTest::newRow("retransmission, automatic user timeout")
            << Reason::RetransmissionTimeout << chosen << retransmissionDeath
            << QStringLiteral("peer did not acknowledge sent data within the 16 s user timeout "
                              "(idle 10 s, interval 2 s)");
    QTest::newRow("retransmission, explicit user timeout")
            << Reason::RetransmissionTimeout << KeepAliveOptions(chosen).setUserTimeout(2500ms)
            << retransmissionDeath
            << QStringLiteral("peer did not acknowledge sent data within the 2.500 s user "
                              "timeout (idle 10 s, interval 2 s)");
    QTest::newRow("retransmission, user timeout off")
            << Reason::RetransmissionTimeout
            << KeepAliveOptions(chosen).setUserTimeoutMode(KeepAliveOptions::UserTimeoutMode::Off)
            << retransmissionDeath
            << QStringLiteral("peer did not acknowledge sent data within the kernel's "
                              "retransmission limit (user timeout off) (idle 10 s, interval 2 s)");
    QTest::newRow("host unreachable, user timeout off")
            << Reason::HostUnreachable
            << KeepAliveOptions(chosen).setUserTimeoutMode(KeepAliveOptions::UserTimeoutMode::Off)
            << retransmissionDeath
            << QStringLiteral("peer host unreachable (ICMP host unreachable until the kernel's "
                              "retransmission limit (user timeout off) ended the connection)");
    QTest::newRow("retransmission during a zero-window stall")
            << Reason::RetransmissionTimeout << chosen << evidence(closedHealth(2, 0, 3), true)
            << QStringLiteral("peer stopped answering while it was not accepting our data (user "
                              "timeout 16 s)");
    QTest::newRow("reset") << Reason::ConnectionReset << chosen << noHealth
                           << QStringLiteral("connection reset by peer (RST received)");
    QTest::newRow("host unreachable")
            << Reason::HostUnreachable << chosen << keepAliveDeath
            << QStringLiteral("peer host unreachable (ICMP host unreachable until the 16 s user "
                              "timeout ended the connection)");
    QTest::newRow("network unreachable")
            << Reason::NetworkUnreachable << chosen << keepAliveDeath
            << QStringLiteral("peer network unreachable (ICMP network unreachable until the 16 s "
                              "user timeout ended the connection)");
    QTest::newRow("heartbeat") << Reason::HeartbeatTimeout << chosen << noHealth
                               << QStringLiteral("peer did not answer the application heartbeat");
    QTest::newRow("other error")
            << Reason::OtherError << chosen << noHealth
            << QStringLiteral("connection failed: The remote host closed the connection");
    QTest::newRow("none keeps Qt's text") << Reason::None << chosen << noHealth << qtText;
}

void tst_ClassifyDeadPeer::message()
{
#if !defined(Q_OS_LINUX)
    QSKIP("The expected texts name the Linux profile's limits (probe count, user timeout)");
#endif
    QFETCH(Reason, reason);
    QFETCH(KeepAliveOptions, applied);
    QFETCH(DeathEvidence, evidence);
    QFETCH(QString, expected);

    QCOMPARE(deadPeerMessage(reason, applied, evidence,
                             QStringLiteral("The remote host closed the connection")),
             expected);
}

void tst_ClassifyDeadPeer::messageNamesSettingsAsApplied_data()
{
    QTest::addColumn<Reason>("reason");
    QTest::addColumn<QString>("expected");

    // Asked for idle 1500 ms, interval 500 ms, 3 probes: the kernel took 2 s
    // and 1 s (TCP_KEEPIDLE/TCP_KEEPINTVL are whole seconds, rounded up), so
    // the peer was declared dead after 2 + 1 x 3 = 5 s. The message has to
    // name the settings that produced the death, consistently with the 5 s
    // user timeout it also names.
    QTest::newRow("keepalive")
            << Reason::KeepAliveTimeout
            << QStringLiteral("peer did not answer 3 keepalive probes (idle 2 s, interval 1 s)");
    QTest::newRow("retransmission")
            << Reason::RetransmissionTimeout
            << QStringLiteral("peer did not acknowledge sent data within the 5 s user timeout "
                              "(idle 2 s, interval 1 s)");
    QTest::newRow("host unreachable")
            << Reason::HostUnreachable
            << QStringLiteral("peer host unreachable (ICMP host unreachable until the 5 s user "
                              "timeout ended the connection)");
}

void tst_ClassifyDeadPeer::messageNamesSettingsAsApplied()
{
#if !defined(Q_OS_LINUX)
    QSKIP("The expected texts name the Linux profile's limits (probe count, user timeout)");
#endif
    QFETCH(Reason, reason);
    QFETCH(QString, expected);

    const KeepAliveOptions asked =
            KeepAliveOptions().setIdle(1500ms).setInterval(500ms).setProbeCount(3);
    QCOMPARE(asked.userTimeout(), 5s); // the rounded values, as applied
    QCOMPARE(deadPeerMessage(reason, asked, noHealth, QString()), expected);
}

// The reasons table lives in one place, the documentation of
// QtKeepAlive::DeadPeerReason in src/qtkeepalive.h (the README links to it).
// Every reason has its row there, and each row's example message is what
// deadPeerMessage() says for the example settings (idle 10 s, interval 2 s,
// 3 probes: a 16 s automatic user timeout).
void tst_ClassifyDeadPeer::referenceTableMatches()
{
#if !defined(Q_OS_LINUX)
    QSKIP("The expected texts name the Linux profile's limits (probe count, user timeout)");
#endif
    const QString path = QFINDTESTDATA("../../../../src/qtkeepalive.h");
    QFile header(path);
    QVERIFY2(header.open(QIODevice::ReadOnly | QIODevice::Text), qPrintable(path));
    QHash<QString, QString> messages; // reason -> example errorString()
    const QStringList lines = QString::fromUtf8(header.readAll()).split(u'\n');
    for (const QString &line : lines) {
        const QStringList cells = line.trimmed().split(u'|');
        if (cells.size() == 6 && !cells.at(1).trimmed().startsWith(u'-'))
            messages.insert(cells.at(1).trimmed(), cells.at(4).trimmed());
    }
    const KeepAliveOptions example =
            KeepAliveOptions().setIdle(10s).setInterval(2s).setProbeCount(3);
    const QMetaEnum reasons = QMetaEnum::fromType<Reason>();
    for (int i = 0; i < reasons.keyCount(); ++i) {
        const auto reason = Reason(reasons.value(i));
        if (reason == Reason::None)
            continue;
        const QString name = QString::fromLatin1(reasons.key(i));
        QVERIFY2(messages.contains(name), qPrintable(name + QLatin1String(" has no row")));
        // A heartbeat's message names the heartbeat's settings (3 missed, 2 s apart).
        const QString expected = reason == Reason::HeartbeatTimeout
                ? heartbeatDeathMessage(3, 2s)
                : deadPeerMessage(reason, example, DeathEvidence{},
                                  QStringLiteral("<Qt's error string>"));
        QCOMPARE(messages.value(name), expected);
    }
    QCOMPARE(messages.size(), reasons.keyCount()); // the header row + one row per reason
}

void tst_ClassifyDeadPeer::heartbeatMessage()
{
    QCOMPARE(heartbeatDeathMessage(3, 2s),
             QStringLiteral("peer did not answer 3 application heartbeats (interval 2 s)"));
    QCOMPARE(heartbeatDeathMessage(1, 1500ms),
             QStringLiteral("peer did not answer 1 application heartbeat (interval 1500 ms)"));
}

// The public-API-only mode: Qt's error code and the kernel's view after Qt
// closed its descriptor stand in for the read's errno.
void tst_ClassifyDeadPeer::osErrorAfterClose_data()
{
    using State = ConnectionHealth::TcpState;
    QTest::addColumn<int>("qtError");
    QTest::addColumn<int>("state");
    QTest::addColumn<int>("pending");
    QTest::addColumn<int>("expected");
    const int closed = int(QAbstractSocket::RemoteHostClosedError);
    QTest::newRow("timeout") << int(QAbstractSocket::SocketTimeoutError) << int(State::Closed)
                             << int(OsError::None) << int(OsError::TimedOut);
    QTest::newRow("remote closed, connection closed: reset")
            << closed << int(State::Closed) << int(OsError::None) << int(OsError::Reset);
    QTest::newRow("remote closed, FIN held: orderly")
            << closed << int(State::CloseWait) << int(OsError::None) << int(OsError::None);
    QTest::newRow("remote closed, no second handle: orderly")
            << closed << int(State::Unknown) << int(OsError::None) << int(OsError::None);
    QTest::newRow("FIN, then a RST for late data: EPIPE pending")
            << closed << int(State::Closed) << int(OsError::PeerClosed) << int(OsError::PeerClosed);
    QTest::newRow("network error after the peer's FIN")
            << int(QAbstractSocket::NetworkError) << int(State::CloseWait) << int(OsError::None)
            << int(OsError::PeerClosed);
    QTest::newRow("network error: which ICMP error is unknown")
            << int(QAbstractSocket::NetworkError) << int(State::Closed) << int(OsError::None)
            << int(OsError::Other);
    QTest::newRow("no death: the connection is open")
            << int(QAbstractSocket::UnfinishedSocketOperationError) << int(State::Established)
            << int(OsError::None) << int(OsError::None);
    QTest::newRow("closed, no code from Qt's write path, no counters: other")
            << int(QAbstractSocket::UnfinishedSocketOperationError) << int(State::Closed)
            << int(OsError::None) << int(OsError::Other);
}

void tst_ClassifyDeadPeer::osErrorAfterClose()
{
    QFETCH(int, qtError);
    QFETCH(int, state);
    QFETCH(int, pending);
    QFETCH(int, expected);
    ConnectionHealth health;
    health.state = ConnectionHealth::TcpState(state);
    QCOMPARE(int(::osErrorAfterClose(QAbstractSocket::SocketError(qtError), health,
                                     OsError(pending))),
             expected);
}

// Qt's write path has no code for ETIMEDOUT: the kernel's counters tell.
void tst_ClassifyDeadPeer::osErrorAfterCloseOfTheWritePath()
{
    ConnectionHealth health;
    health.state = ConnectionHealth::TcpState::Closed;
    health.retransmits = 4;
    QCOMPARE(::osErrorAfterClose(QAbstractSocket::UnfinishedSocketOperationError, health,
                                 OsError::None),
             OsError::TimedOut);
    health.retransmits = 0;
    health.probes = 2;
    QCOMPARE(::osErrorAfterClose(QAbstractSocket::UnfinishedSocketOperationError, health,
                                 OsError::None),
             OsError::TimedOut);
}

QTEST_GUILESS_MAIN(tst_ClassifyDeadPeer)
#include "tst_classifydeadpeer.moc"
