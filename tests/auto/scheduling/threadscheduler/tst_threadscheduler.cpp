// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
//
// The one scheduler per thread behind the heartbeats, the stall watches and
// idle reaping, on a fake clock: DeadlineSet's rules, ThreadScheduler's
// lifetime, and the heartbeat's and the server's timing rules driven through
// it without waiting for any of them.

#include "deadlineset_p.h"
#include "threadscheduler_p.h"

#include <KeepAliveHeartbeat>
#include <KeepAliveServer>

#include <QtCore/QThread>
#include <QtCore/QTimer>
#include <QtNetwork/QHostAddress>
#include <QtNetwork/QTcpSocket>
#include <QtTest/QSignalSpy>
#include <QtTest/QTest>

#include <memory>
#include <vector>

using namespace std::chrono;
using namespace std::chrono_literals;

using TimePoint = ThreadScheduler::TimePoint;

namespace {

TimePoint g_now;

TimePoint fakeNow()
{
    return g_now;
}

// Records what expired; optionally removes itself (or another) when told.
class Recorder final : public ThreadScheduler::Client
{
public:
    void expired(int kind, TimePoint now) override
    {
        events.push_back({kind, now});
        if (onExpired)
            onExpired(kind);
    }
    void schedulerEnded() override { ended = true; }

    struct Event
    {
        int kind;
        TimePoint at;
    };
    std::vector<Event> events;
    std::function<void(int)> onExpired;
    bool ended = false;
};

// An owner's address leaves the kind's bits free.
struct alignas(DeadlineSet::KindCount) Tag
{
    char unused = 0;
};

DeadlineSet::Owner owner(const Tag *object)
{
    return reinterpret_cast<DeadlineSet::Owner>(object);
}

} // namespace

class tst_ThreadScheduler : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void init();
    void cleanup();

    // DeadlineSet
    void deadlinesExpireInOrder();
    void kindsKeepTheirOwnQueues();
    void scheduleAtInAnyOrder();
    void cancelAllDropsEveryKind();

    // ThreadScheduler
    void oneSchedulerPerThreadDeletedByTheLastClient();
    void clientRemovedDuringDispatchIsNotCalled();
    void threadEndTellsTheClients();

    // Timing rules of the clients, on the fake clock
    void heartbeatPingsAndDeclaresDeathOnTime();
    void heartbeatAnswerPostponesThePing();
    void serverReapsIdleClientAtTheTimeout();

private:
    //! Runs what is due at g_now in this thread's scheduler.
    static void runDue()
    {
        if (ThreadScheduler *scheduler = ThreadScheduler::existingForCurrentThread())
            scheduler->runDue();
    }
};

void tst_ThreadScheduler::init()
{
    g_now = steady_clock::now();
    ThreadScheduler::setClockForTesting(&fakeNow);
}

void tst_ThreadScheduler::cleanup()
{
    ThreadScheduler::setClockForTesting(nullptr);
}

void tst_ThreadScheduler::deadlinesExpireInOrder()
{
    DeadlineSet set;
    Tag a, b, c;
    const TimePoint t0 = g_now;
    set.schedule(owner(&a), 0, 1000ms, t0);
    set.schedule(owner(&b), 0, 1000ms, t0 + 100ms);
    set.schedule(owner(&c), 0, 300ms, t0 + 100ms);
    QCOMPARE(set.next(), std::optional<TimePoint>(t0 + 400ms));
    QVERIFY(set.takeDue(t0 + 399ms).empty());
    auto due = set.takeDue(t0 + 400ms);
    QCOMPARE(due.size(), std::size_t(1));
    QCOMPARE(due[0].owner, owner(&c));
    // Activity moves a's deadline: b is first now.
    set.schedule(owner(&a), 0, 1000ms, t0 + 500ms);
    QCOMPARE(set.next(), std::optional<TimePoint>(t0 + 1100ms));
    due = set.takeDue(t0 + 1500ms);
    QCOMPARE(due.size(), std::size_t(2));
    QCOMPARE(due[0].owner, owner(&b));
    QCOMPARE(due[1].owner, owner(&a));
    QCOMPARE(set.next(), std::optional<TimePoint>());
}

void tst_ThreadScheduler::kindsKeepTheirOwnQueues()
{
    // A tick on a grid (from a past grid point) and a ping from now, same
    // timeout: in one queue the tick, touched later with an earlier time,
    // would wait behind the ping.
    DeadlineSet set;
    Tag guard, heartbeat;
    const TimePoint t0 = g_now;
    set.schedule(owner(&heartbeat), ThreadScheduler::HeartbeatPing, 750ms, t0 + 600ms);
    set.schedule(owner(&guard), ThreadScheduler::StallTick, 750ms, t0);
    const auto due = set.takeDue(t0 + 750ms);
    QCOMPARE(due.size(), std::size_t(1));
    QCOMPARE(due[0].owner, owner(&guard));
    QCOMPARE(due[0].kind, int(ThreadScheduler::StallTick));
}

void tst_ThreadScheduler::scheduleAtInAnyOrder()
{
    DeadlineSet set;
    Tag a, b;
    const TimePoint t0 = g_now;
    set.scheduleAt(owner(&a), ThreadScheduler::IdleReaping, t0 + 60s);
    set.scheduleAt(owner(&b), ThreadScheduler::IdleReaping, t0 + 10s);
    QCOMPARE(set.next(), std::optional<TimePoint>(t0 + 10s));
    set.scheduleAt(owner(&b), ThreadScheduler::IdleReaping, t0 + 90s); // moved later
    QCOMPARE(set.next(), std::optional<TimePoint>(t0 + 60s));
    auto due = set.takeDue(t0 + 60s);
    QCOMPARE(due.size(), std::size_t(1));
    QCOMPARE(due[0].owner, owner(&a));
    set.cancelAt(owner(&b), ThreadScheduler::IdleReaping);
    QCOMPARE(set.next(), std::optional<TimePoint>());
}

void tst_ThreadScheduler::cancelAllDropsEveryKind()
{
    DeadlineSet set;
    Tag a, b;
    const TimePoint t0 = g_now;
    set.schedule(owner(&a), ThreadScheduler::HeartbeatPing, 1s, t0);
    set.schedule(owner(&a), ThreadScheduler::HeartbeatAllIdle, 2s, t0);
    set.scheduleAt(owner(&a), ThreadScheduler::IdleReaping, t0 + 3s);
    set.schedule(owner(&b), ThreadScheduler::HeartbeatPing, 1s, t0);
    set.cancelAll(owner(&a));
    const auto due = set.takeDue(t0 + 10s);
    QCOMPARE(due.size(), std::size_t(1));
    QCOMPARE(due[0].owner, owner(&b));
}

void tst_ThreadScheduler::oneSchedulerPerThreadDeletedByTheLastClient()
{
    QVERIFY(!ThreadScheduler::existingForCurrentThread());
    Recorder first, second;
    ThreadScheduler *scheduler = ThreadScheduler::forCurrentThread();
    QCOMPARE(ThreadScheduler::forCurrentThread(), scheduler);
    scheduler->add(&first);
    scheduler->add(&second);
    scheduler->schedule(&first, ThreadScheduler::HeartbeatPing, 1s, g_now);
    scheduler->schedule(&second, ThreadScheduler::StallTick, 2s, g_now);
    QCOMPARE(scheduler->findChildren<QTimer *>().size(), 1);

    g_now += 1s;
    scheduler->runDue();
    QCOMPARE(first.events.size(), std::size_t(1));
    QCOMPARE(first.events[0].kind, int(ThreadScheduler::HeartbeatPing));
    QVERIFY(second.events.empty());

    scheduler->remove(&first);
    QCOMPARE(ThreadScheduler::existingForCurrentThread(), scheduler);
    scheduler->remove(&second);
    QVERIFY(!ThreadScheduler::existingForCurrentThread());
}

void tst_ThreadScheduler::clientRemovedDuringDispatchIsNotCalled()
{
    Recorder first, second;
    ThreadScheduler *scheduler = ThreadScheduler::forCurrentThread();
    scheduler->add(&first);
    scheduler->add(&second);
    scheduler->schedule(&first, ThreadScheduler::HeartbeatPing, 1s, g_now);
    scheduler->schedule(&second, ThreadScheduler::HeartbeatPing, 1s, g_now);
    // The first one's handler removes both: the last one out deletes the
    // scheduler, after the dispatch.
    first.onExpired = [&](int) {
        scheduler->remove(&second);
        scheduler->remove(&first);
    };
    g_now += 1s;
    scheduler->runDue();
    QCOMPARE(first.events.size(), std::size_t(1));
    QVERIFY(second.events.empty());
    QVERIFY(!ThreadScheduler::existingForCurrentThread());
}

void tst_ThreadScheduler::threadEndTellsTheClients()
{
    Recorder client;
    QThread thread;
    QObject context;
    context.moveToThread(&thread);
    thread.start();
    QMetaObject::invokeMethod(
            &context,
            [&client] {
                ThreadScheduler::forCurrentThread()->add(&client);
                ThreadScheduler::forCurrentThread()->schedule(
                        &client, ThreadScheduler::HeartbeatPing, 1h, ThreadScheduler::now());
            },
            Qt::BlockingQueuedConnection);
    thread.quit();
    QVERIFY(thread.wait(5000));
    QVERIFY(client.ended);
    QVERIFY(client.events.empty());
}

void tst_ThreadScheduler::heartbeatPingsAndDeclaresDeathOnTime()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost));
    QTcpSocket client;
    client.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QVERIFY(client.waitForConnected(5000));
    QTRY_VERIFY(server.hasPendingConnections());
    const std::unique_ptr<QTcpSocket> peer(server.nextPendingConnection());

    auto *heartbeat = new KeepAliveHeartbeat(&client);
    QVERIFY(heartbeat->setInterval(1s));
    QVERIFY(heartbeat->setJitter(0ms));
    QVERIFY(heartbeat->setMaxMissed(2));
    heartbeat->setPingPayload("P");
    QSignalSpy pings(heartbeat, &KeepAliveHeartbeat::pingSent);
    QSignalSpy timeouts(heartbeat, &KeepAliveHeartbeat::heartbeatTimeout);

    g_now += 999ms;
    runDue();
    QCOMPARE(pings.count(), 0);
    g_now += 1ms; // one interval of silence
    runDue();
    QCOMPARE(pings.count(), 1);
    g_now += 1s;
    runDue();
    QCOMPARE(pings.count(), 2);
    QCOMPARE(timeouts.count(), 0);
    g_now += 999ms;
    runDue();
    QCOMPARE(timeouts.count(), 0);
    g_now += 1ms; // detectionBound(): (maxMissed + 1) x interval after the last sign of life
    runDue();
    QCOMPARE(timeouts.count(), 1);
    QCOMPARE(heartbeat->detectionBound(), 3s);
}

void tst_ThreadScheduler::heartbeatAnswerPostponesThePing()
{
    QTcpServer server;
    QVERIFY(server.listen(QHostAddress::LocalHost));
    QTcpSocket client;
    client.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QVERIFY(client.waitForConnected(5000));
    QTRY_VERIFY(server.hasPendingConnections());
    const std::unique_ptr<QTcpSocket> peer(server.nextPendingConnection());

    auto *heartbeat = new KeepAliveHeartbeat(&client);
    QVERIFY(heartbeat->setInterval(1s));
    QVERIFY(heartbeat->setJitter(0ms));
    QSignalSpy pings(heartbeat, &KeepAliveHeartbeat::pingSent);

    g_now += 800ms;
    peer->write("answer");
    QTRY_VERIFY(client.bytesAvailable() > 0); // readyRead() seen at the fake 800 ms
    g_now += 999ms;
    runDue();
    QCOMPARE(pings.count(), 0);
    g_now += 1ms; // a whole interval after the answer
    runDue();
    QCOMPARE(pings.count(), 1);
}

void tst_ThreadScheduler::serverReapsIdleClientAtTheTimeout()
{
    // The server also asks the kernel (its own clock) whether bytes arrived
    // within the timeout: the timeout is short, and the kernel's silence real.
    KeepAliveServer server;
    QVERIFY(server.setIdleTimeout(200ms));
    QVERIFY(server.listen(QHostAddress::LocalHost));
    QSignalSpy lost(&server, &KeepAliveServer::clientLost);
    QTcpSocket client;
    client.connectToHost(QHostAddress::LocalHost, server.serverPort());
    QVERIFY(client.waitForConnected(5000));
    QTRY_VERIFY(server.hasPendingConnections());
    QVERIFY(server.nextPendingConnection());
    QTest::qWait(300);

    g_now += 199ms;
    runDue();
    QCOMPARE(lost.count(), 0);
    g_now += 1ms; // the idle timeout on the scheduler's clock
    runDue();
    QCOMPARE(lost.count(), 1);
    QCOMPARE(lost.at(0).at(1).value<QtKeepAlive::ClientLossReason>(),
             QtKeepAlive::ClientLossReason::IdleTimeout);
}

QTEST_GUILESS_MAIN(tst_ThreadScheduler)
#include "tst_threadscheduler.moc"
