// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// TimeoutQueue with an injected clock: the order, moving on activity, and
// expiry that stops at the first entry that has not expired.

#include "timeoutqueue_p.h"

#include <QtTest/QtTest>

#include <limits>
#include <vector>

using namespace std::chrono_literals;
using std::chrono::hours;
using std::chrono::milliseconds;
using Queue = TimeoutQueue<int>;
using TimePoint = Queue::TimePoint;

namespace {

const TimePoint start{};

std::vector<int> expireAll(Queue &queue, TimePoint now, std::chrono::milliseconds timeout)
{
    std::vector<int> keys;
    queue.expire(now, timeout, [&](int key) { keys.push_back(key); });
    return keys;
}

constexpr qint64 IntMax = std::numeric_limits<int>::max();

} // namespace

class tst_TimeoutQueue : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void expiresOldestFirstAndStops();
    void activityMovesToTheBack();
    void removeAndContains();
    void callbackMayTouch();
    void zeroTimeoutCannotLoop();
    void jitteredTouchesAreLateAtMostTheJitter();
    void manyEntriesFewExpired();
    void intrusiveEntriesCarryTheirPlace();
    void intrusiveCallbackMayRemoveAnyEntry();
    void deadlinesSaturate_data();
    void deadlinesSaturate();
    void timerWait_data();
    void timerWait();
    void longWaitsAreChained();
};

void tst_TimeoutQueue::expiresOldestFirstAndStops()
{
    Queue queue;
    queue.touch(1, start);
    queue.touch(2, start + 100ms);
    queue.touch(3, start + 200ms);
    QCOMPARE(queue.nextExpiry(1s), start + 1s);
    QVERIFY(expireAll(queue, start + 999ms, 1s).empty());
    QCOMPARE(expireAll(queue, start + 1100ms, 1s), std::vector<int>({1, 2}));
    QCOMPARE(queue.size(), std::size_t(1));
    QCOMPARE(queue.nextExpiry(1s), start + 1200ms);
}

void tst_TimeoutQueue::activityMovesToTheBack()
{
    Queue queue;
    queue.touch(1, start);
    queue.touch(2, start + 100ms);
    queue.touch(1, start + 500ms); // 1 was active again: now the youngest
    QCOMPARE(queue.size(), std::size_t(2));
    QCOMPARE(expireAll(queue, start + 1200ms, 1s), std::vector<int>({2}));
    QCOMPARE(expireAll(queue, start + 1500ms, 1s), std::vector<int>({1}));
    QVERIFY(queue.isEmpty());
}

void tst_TimeoutQueue::removeAndContains()
{
    Queue queue;
    queue.touch(1, start);
    queue.touch(2, start);
    queue.remove(1);
    queue.remove(7); // not there: nothing happens
    QVERIFY(!queue.contains(1));
    QVERIFY(queue.contains(2));
    QCOMPARE(expireAll(queue, start + 1s, 1s), std::vector<int>({2}));
}

void tst_TimeoutQueue::callbackMayTouch()
{
    Queue queue;
    for (int key = 0; key < 4; ++key)
        queue.touch(key, start);
    std::vector<int> seen;
    // Each expired entry is put back as active now (a heartbeat re-arming).
    queue.expire(start + 1s, 1s, [&](int key) {
        seen.push_back(key);
        queue.touch(key, start + 1s);
        queue.remove(3); // and the callback may remove others
    });
    QCOMPARE(seen, std::vector<int>({0, 1, 2}));
    QCOMPARE(queue.size(), std::size_t(3));
    QVERIFY(!queue.contains(3));
}

void tst_TimeoutQueue::zeroTimeoutCannotLoop()
{
    Queue queue;
    queue.touch(1, start);
    queue.touch(2, start);
    int calls = 0;
    const std::size_t expired = queue.expire(start, 0ms, [&](int key) {
        ++calls;
        queue.touch(key, start);
    });
    QCOMPARE(expired, std::size_t(2));
    QCOMPARE(calls, 2);
}

void tst_TimeoutQueue::jitteredTouchesAreLateAtMostTheJitter()
{
    Queue queue;
    queue.touch(1, start + 300ms); // jittered into the future
    queue.touch(2, start + 100ms);
    // 2 is due at 1100 ms but waits behind 1: late by less than the jitter.
    QVERIFY(expireAll(queue, start + 1100ms, 1s).empty());
    QCOMPARE(expireAll(queue, start + 1300ms, 1s), std::vector<int>({1, 2}));
}

void tst_TimeoutQueue::manyEntriesFewExpired()
{
    Queue queue;
    constexpr int count = 100000;
    for (int key = 0; key < count; ++key)
        queue.touch(key, start + std::chrono::milliseconds(key));
    QCOMPARE(expireAll(queue, start + 1s + 2ms, 1s), std::vector<int>({0, 1, 2}));
    QCOMPARE(queue.size(), std::size_t(count - 3));
}

namespace {
//! An object that carries its own place in an IntrusiveTimeoutQueue (a server's client tie).
struct Tied : TimeoutQueueLink
{
    int id = 0;
};
using Intrusive = IntrusiveTimeoutQueue<Tied>;

std::vector<int> idsOf(const Intrusive &queue)
{
    std::vector<int> ids;
    queue.forEach([&](const Tied *entry) { ids.push_back(entry->id); });
    return ids;
}
} // namespace

// The queue owns nothing: entries are linked and unlinked in place, are in
// it only while touched, and are left unlinked by clear() and the
// destructor (the objects outlive a care that is gone).
void tst_TimeoutQueue::intrusiveEntriesCarryTheirPlace()
{
    Tied a, b, c;
    a.id = 1;
    b.id = 2;
    c.id = 3;
    {
        Intrusive queue;
        QVERIFY(!queue.contains(&a));
        queue.remove(&a); // not there: nothing happens
        queue.touch(&a, start);
        queue.touch(&b, start + 100ms);
        queue.touch(&c, start + 200ms);
        QCOMPARE(idsOf(queue), std::vector<int>({1, 2, 3}));
        queue.touch(&a, start + 300ms); // active again: now the youngest
        QCOMPARE(idsOf(queue), std::vector<int>({2, 3, 1}));
        QCOMPARE(a.activeAt(), start + 300ms);
        queue.remove(&c); // from the middle
        QVERIFY(!queue.contains(&c));
        QCOMPARE(idsOf(queue), std::vector<int>({2, 1}));
        QCOMPARE(queue.size(), std::size_t(2));
        QCOMPARE(queue.front(), &b);
        QCOMPARE(queue.nextExpiry(1s), start + 1100ms);
        queue.remove(&b); // the front
        queue.remove(&a); // the back, and the last
        QVERIFY(queue.isEmpty());
        QCOMPARE(idsOf(queue), std::vector<int>());
        queue.touch(&c, start);
        queue.touch(&b, start);
        queue.clear();
        QVERIFY(queue.isEmpty());
        QVERIFY(!queue.contains(&b) && !queue.contains(&c));
        queue.touch(&a, start);
    } // destroyed with a queued: a is left unlinked
    Intrusive other;
    QVERIFY(!other.contains(&a));
    other.touch(&a, start);
    QCOMPARE(idsOf(other), std::vector<int>({1}));
    other.clear();
}

// What a care's reaping does: the callback may remove the entries behind
// the one that expired (clients that disconnect meanwhile) and put the
// expired one back; the loop neither touches a removed entry nor runs on.
void tst_TimeoutQueue::intrusiveCallbackMayRemoveAnyEntry()
{
    std::vector<Tied> entries(5);
    Intrusive queue;
    for (int i = 0; i < 5; ++i) {
        entries[i].id = i;
        queue.touch(&entries[i], start + milliseconds(i));
    }
    std::vector<int> seen;
    const std::size_t expired = queue.expire(start + 2s, 1s, [&](Tied *entry) {
        seen.push_back(entry->id);
        QVERIFY(!queue.contains(entry));
        if (entry->id == 0)
            queue.remove(&entries[1]);
        if (entry->id == 2)
            queue.touch(entry, start + 2s);
    });
    QCOMPARE(seen, std::vector<int>({0, 2, 3, 4}));
    QCOMPARE(expired, std::size_t(4));
    QCOMPARE(idsOf(queue), std::vector<int>({2}));
    queue.clear();
}

void tst_TimeoutQueue::deadlinesSaturate_data()
{
    QTest::addColumn<milliseconds>("timeout");
    QTest::addColumn<bool>("representable");
    QTest::newRow("0") << milliseconds(0) << true;
    QTest::newRow("INT_MAX + 1 ms") << milliseconds(IntMax + 1) << true;
    QTest::newRow("30 days") << milliseconds(hours(24 * 30)) << true;
    QTest::newRow("200 years") << milliseconds(hours(24 * 365 * 200)) << true;
    QTest::newRow("300 years") << milliseconds(hours(24 * 365 * 300)) << false;
    QTest::newRow("milliseconds::max()") << milliseconds::max() << false;
}

// A timeout beyond the clock's range (steady_clock counts nanoseconds:
// 292 years) is "never", not an overflow that wraps into the past.
void tst_TimeoutQueue::deadlinesSaturate()
{
    QFETCH(milliseconds, timeout);
    QFETCH(bool, representable);
    const TimePoint now = start + hours(24);
    Queue queue;
    queue.touch(1, now);
    if (representable) {
        QCOMPARE(queue.nextExpiry(timeout), now + timeout);
        QCOMPARE(Queue::deadline(now, timeout), now + timeout);
    } else {
        QCOMPARE(queue.nextExpiry(timeout), TimePoint::max());
        QCOMPARE(Queue::deadline(now, timeout), TimePoint::max());
    }
    QCOMPARE(expireAll(queue, TimePoint::max() - 1ms, timeout).size(),
             std::size_t(representable ? 1 : 0));
}

void tst_TimeoutQueue::timerWait_data()
{
    QTest::addColumn<milliseconds>("until");
    QTest::addColumn<milliseconds>("wait");
    QTest::newRow("past") << milliseconds(-5) << milliseconds(0);
    QTest::newRow("now") << milliseconds(0) << milliseconds(0);
    QTest::newRow("1 ms") << milliseconds(1) << milliseconds(1);
    QTest::newRow("INT_MAX ms") << milliseconds(IntMax) << milliseconds(IntMax);
    QTest::newRow("INT_MAX + 1 ms: chained") << milliseconds(IntMax + 1) << milliseconds(IntMax);
    QTest::newRow("30 days: chained") << milliseconds(hours(24 * 30)) << milliseconds(IntMax);
}

// The wait a QTimer (an int of milliseconds) is armed with: never more than
// INT_MAX ms, so that a longer wait is chained instead of wrapping negative.
void tst_TimeoutQueue::timerWait()
{
    QFETCH(milliseconds, until);
    QFETCH(milliseconds, wait);
    const TimePoint now = start + hours(1);
    QCOMPARE(timerWaitUntil(now + until, now), wait);
    // Rounded up: a timer that fires early only re-arms.
    QCOMPARE(timerWaitUntil(now + until - std::chrono::microseconds(500), now),
             std::max(milliseconds(0), wait));
}

// A 30-day idle timeout: the timer fires after INT_MAX ms, finds nothing
// expired, is armed for the rest, and the entry expires at its deadline.
void tst_TimeoutQueue::longWaitsAreChained()
{
    const milliseconds timeout = hours(24 * 30);
    Queue queue;
    queue.touch(1, start);
    TimePoint now = start;
    std::vector<milliseconds> waits;
    while (!queue.isEmpty() && waits.size() < 10) {
        const milliseconds wait = timerWaitUntil(queue.nextExpiry(timeout), now);
        waits.push_back(wait);
        now += wait; // the timer fires
        QCOMPARE(expireAll(queue, now, timeout).empty(), now < start + timeout);
    }
    QCOMPARE(waits,
             std::vector<milliseconds>({milliseconds(IntMax), timeout - milliseconds(IntMax)}));
    QCOMPARE(now, start + timeout);

    // A timeout the clock cannot represent is waited for in INT_MAX chunks forever.
    Queue never;
    never.touch(1, start);
    QCOMPARE(timerWaitUntil(never.nextExpiry(milliseconds::max()), start), milliseconds(IntMax));
    QCOMPARE(timerWaitUntil(never.nextExpiry(milliseconds::max()), TimePoint::max() - 1ms),
             milliseconds(1));
}

QTEST_APPLESS_MAIN(tst_TimeoutQueue)
#include "tst_timeoutqueue.moc"
