// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "heartbeatscheduler_p.h"

#include "keepaliveheartbeat_p.h"

#include <QtCore/QThread>
#include <QtCore/QTimer>

#include <vector>

using namespace std::chrono;

namespace {

// One scheduler per thread; a plain pointer, the scheduler deletes itself
// when its last heartbeat leaves.
thread_local HeartbeatScheduler *t_scheduler = nullptr;

// Heartbeats are pointer-aligned: the two low bits of the key name the kind.
constexpr std::uintptr_t KindMask = 3;
static_assert(alignof(KeepAliveHeartbeat) > KindMask);

std::uintptr_t keyFor(KeepAliveHeartbeat *heartbeat, HeartbeatScheduler::Kind kind)
{
    return reinterpret_cast<std::uintptr_t>(heartbeat) | static_cast<std::uintptr_t>(kind);
}

} // namespace

HeartbeatScheduler::HeartbeatScheduler() : m_timer(new QTimer(this))
{
    m_timer->setSingleShot(true);
    // A coarse timer may fire 5 % late: 50 ms on a 1 s interval, taken from the bound.
    m_timer->setTimerType(Qt::PreciseTimer);
    connect(m_timer, &QTimer::timeout, this, &HeartbeatScheduler::onTimeout);
    // QThread::finished is emitted in the finishing thread: the last chance
    // to stop this thread's timer and free what it owns.
    connect(thread(), &QThread::finished, this, &HeartbeatScheduler::threadEnded,
            Qt::DirectConnection);
}

void HeartbeatScheduler::threadEnded()
{
    for (KeepAliveHeartbeat *heartbeat : m_heartbeats)
        KeepAliveHeartbeatPrivate::get(heartbeat)->scheduler = nullptr;
    delete this;
}

HeartbeatScheduler::~HeartbeatScheduler()
{
    if (t_scheduler == this)
        t_scheduler = nullptr;
}

HeartbeatScheduler *HeartbeatScheduler::forCurrentThread()
{
    if (!t_scheduler)
        t_scheduler = new HeartbeatScheduler;
    return t_scheduler;
}

HeartbeatScheduler *HeartbeatScheduler::existingForCurrentThread()
{
    return t_scheduler;
}

void HeartbeatScheduler::add(KeepAliveHeartbeat *heartbeat)
{
    m_heartbeats.insert(heartbeat);
}

void HeartbeatScheduler::remove(KeepAliveHeartbeat *heartbeat)
{
    if (m_heartbeats.erase(heartbeat) == 0)
        return;
    for (auto &[timeout, queue] : m_queues) {
        for (std::uintptr_t kind = 0; kind <= KindMask; ++kind)
            queue.remove(keyFor(heartbeat, Kind(kind)));
    }
    if (!m_heartbeats.empty())
        return;
    if (t_scheduler == this)
        t_scheduler = nullptr;
    // Not deleteLater(): a thread (or the application) that ends without
    // another event loop turn would leak it.
    if (m_dispatching)
        m_deleteWhenDone = true;
    else
        delete this;
}

void HeartbeatScheduler::schedule(KeepAliveHeartbeat *heartbeat, Kind kind, milliseconds timeout,
                                  Clock::time_point from)
{
    m_queues[timeout.count()].touch(keyFor(heartbeat, kind), from);
    // Only an earlier deadline re-arms: activity moves a deadline later, and
    // a timer that fires early finds nothing due and re-arms (rearm()).
    const Clock::time_point deadline = TimeoutQueue<std::uintptr_t>::deadline(from, timeout);
    if (!m_dispatching && (!m_timer->isActive() || deadline < m_armedFor))
        arm(deadline);
}

void HeartbeatScheduler::cancel(KeepAliveHeartbeat *heartbeat, Kind kind, milliseconds timeout)
{
    const auto queue = m_queues.find(timeout.count());
    if (queue != m_queues.end())
        queue->second.remove(keyFor(heartbeat, kind));
}

void HeartbeatScheduler::arm(Clock::time_point deadline)
{
    m_armedFor = deadline;
    m_timer->start(timerWaitUntil(deadline, Clock::now()));
}

void HeartbeatScheduler::rearm()
{
    std::optional<Clock::time_point> earliest;
    for (auto it = m_queues.begin(); it != m_queues.end();) {
        if (it->second.isEmpty()) {
            it = m_queues.erase(it);
            continue;
        }
        const Clock::time_point next = it->second.nextExpiry(milliseconds(it->first));
        if (!earliest || next < *earliest)
            earliest = next;
        ++it;
    }
    if (earliest)
        arm(*earliest);
    else
        m_timer->stop();
}

void HeartbeatScheduler::onTimeout()
{
    const Clock::time_point now = Clock::now();
    std::vector<std::uintptr_t> due;
    for (auto &[timeout, queue] : m_queues)
        queue.expire(now, milliseconds(timeout), [&due](std::uintptr_t key) { due.push_back(key); });

    m_dispatching = true;
    for (const std::uintptr_t key : due) {
        auto *heartbeat = reinterpret_cast<KeepAliveHeartbeat *>(key & ~KindMask);
        // An earlier handler may have deleted it (or moved its socket away).
        if (m_heartbeats.count(heartbeat) != 0)
            KeepAliveHeartbeatPrivate::get(heartbeat)->expired(Kind(key & KindMask), now);
    }
    m_dispatching = false;
    if (m_deleteWhenDone) {
        delete this;
        return;
    }
    rearm();
}
