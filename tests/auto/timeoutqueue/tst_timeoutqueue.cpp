// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// TimeoutQueue with an injected clock: the order, moving on activity, and
// expiry that stops at the first entry that has not expired.

#include "timeoutqueue_p.h"

#include <QtTest/QtTest>

#include <vector>

using namespace std::chrono_literals;
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

QTEST_APPLESS_MAIN(tst_TimeoutQueue)
#include "tst_timeoutqueue.moc"
