// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// The arithmetic that moves the kernel's end of a silent peer with data in
// flight onto the bound: userTimeoutForSilentPeer(), fed with TCP_INFO
// figures as Linux reports them (measured on loopback: the write at 0, a
// tail-loss probe at 0.2 s, retransmissions at 0.41, 0.83, 1.66 and 3.29 s,
// RTO 200 ms doubling, the kernel's end at 3.41 s with a 3 s user timeout).

#include "connectionhealth.h"
#include "stallguard_p.h"

#include <QtTest/QTest>

#include <optional>

using namespace std::chrono;
using namespace std::chrono_literals;

using Ms = std::optional<milliseconds>;

namespace {

// The kernel's view \a now ms after a write at 0 to a peer silent since
// before it (its last ACK \a ackBefore ms before the write), retransmitting
// at 410 ms and then 400, 800, 1600 ms apart.
ConnectionHealth silentAfterWrite(milliseconds now, milliseconds ackBefore = 1000ms)
{
    const milliseconds retransmissions[] = {410ms, 810ms, 1610ms, 3210ms};
    ConnectionHealth health;
    health.state = ConnectionHealth::TcpState::Established;
    health.unackedSegments = 1;
    int count = 0;
    milliseconds last = 0ms;
    for (milliseconds at : retransmissions) {
        if (at <= now) {
            ++count;
            last = at;
        }
    }
    health.retransmits = count;
    health.backoff = count;
    health.retransmissionTimeout = microseconds(200ms) * (1 << count);
    health.sinceLastDataSent = now - last;
    health.sinceLastAckReceived = now + ackBefore;
    return health;
}

} // namespace

class tst_StallGuard : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void endsAtTheBoundAfterAWrite_data();
    void endsAtTheBoundAfterAWrite();
    void withoutTheWriteNeverBeforeTheBound();
    void aWriteBeforeTheLastAckDoesNotCount();
    void nothingToPullIn_data();
    void nothingToPullIn();
    void longOverdueEndsAtOnce();
};

void tst_StallGuard::endsAtTheBoundAfterAWrite_data()
{
    QTest::addColumn<milliseconds>("now");
    QTest::addColumn<milliseconds>("userTimeout");
    // Any look between the first retransmission and the last one before the
    // bound gives the same value: the kernel ends at 410 ms + value = bound.
    QTest::addRow("first look after the 1st retransmission") << 500ms << 3000ms;
    QTest::addRow("first look after the 2nd") << 900ms << 3000ms;
    QTest::addRow("first look after the 3rd") << 1700ms << 3000ms;
    QTest::addRow("1 s bound") << 600ms << 1000ms;
    QTest::addRow("10 s bound") << 1700ms << 10000ms;
}

void tst_StallGuard::endsAtTheBoundAfterAWrite()
{
    QFETCH(milliseconds, now);
    QFETCH(milliseconds, userTimeout);
    const Ms value = userTimeoutForSilentPeer(silentAfterWrite(now), userTimeout, now);
    QVERIFY(value);
    QCOMPARE(410ms + *value, userTimeout);
}

void tst_StallGuard::withoutTheWriteNeverBeforeTheBound()
{
    // No write known (an adopted busy descriptor): the send was at most one
    // base RTO before the first retransmission, 210 ms; the end comes at
    // 210 + 3000 = 3210 ms, after the bound.
    const Ms value = userTimeoutForSilentPeer(silentAfterWrite(900ms), 3000ms, std::nullopt);
    QVERIFY(value);
    QCOMPARE(410ms + *value, 3210ms);
}

void tst_StallGuard::aWriteBeforeTheLastAckDoesNotCount()
{
    // Streaming: the last write 2 s ago, ACKs until 100 ms before the first
    // retransmission (310 ms). What the kernel still holds may have gone out
    // after the write: only the RTO counts (sent at 210 ms at the latest, the
    // end at 3210 ms).
    const Ms value = userTimeoutForSilentPeer(silentAfterWrite(900ms, -310ms), 3000ms, 2900ms);
    QVERIFY(value);
    QCOMPARE(410ms + *value, 3210ms);
}

void tst_StallGuard::nothingToPullIn_data()
{
    QTest::addColumn<ConnectionHealth>("health");
    QTest::addColumn<milliseconds>("userTimeout");

    QTest::addRow("no user timeout") << silentAfterWrite(900ms) << 0ms;
    QTest::addRow("no retransmission yet") << silentAfterWrite(300ms) << 3000ms;
    ConnectionHealth answered = silentAfterWrite(900ms);
    answered.sinceLastAckReceived = 100ms; // after the first retransmission
    QTest::addRow("the peer answered since") << answered << 3000ms;
    ConnectionHealth nothingInFlight = silentAfterWrite(900ms);
    nothingInFlight.unackedSegments = 0;
    QTest::addRow("nothing in flight (a zero window)") << nothingInFlight << 3000ms;
    ConnectionHealth capped = silentAfterWrite(900ms);
    capped.retransmissionTimeout = 120s;
    QTest::addRow("RTO at the kernel's cap") << capped << 3000ms;
    ConnectionHealth unknown = silentAfterWrite(900ms);
    unknown.sinceLastDataSent.reset();
    QTest::addRow("no TCP_INFO timing (not Linux)") << unknown << 3000ms;
}

void tst_StallGuard::nothingToPullIn()
{
    QFETCH(ConnectionHealth, health);
    QFETCH(milliseconds, userTimeout);
    QCOMPARE(userTimeoutForSilentPeer(health, userTimeout, 900ms), Ms());
}

void tst_StallGuard::longOverdueEndsAtOnce()
{
    // Written 2.9 s ago and unacknowledged since (no ACK after the write),
    // with a 1 s bound: overdue already, the kernel ends it at its next
    // timer (the smallest value).
    const Ms value = userTimeoutForSilentPeer(silentAfterWrite(900ms, 2100ms), 1000ms, 2900ms);
    QCOMPARE(value, Ms(1ms));
}

QTEST_GUILESS_MAIN(tst_StallGuard)
#include "tst_stallguard.moc"
