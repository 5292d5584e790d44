// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the deadlines behind the thread's scheduler. Pure logic, no Qt,
// no clock of its own (the caller passes the time). Not installed.

#include "timeoutqueue_p.h"

#include <chrono>
#include <cstdint>
#include <map>
#include <set>
#include <optional>
#include <utility>
#include <vector>

/*!
    Deadlines of many owners, each with a few kinds of entry (a heartbeat's
    ping and idle times, a stall watch's tick, a server's reaping): an entry
    scheduled with a timeout from a time expires at that time + timeout.

    Entries live in TimeoutQueues, one per (timeout, kind): every connection
    of an application tends to share its settings, so there are a handful.
    Rescheduling moves an entry to the back of its queue in O(1), the
    earliest deadline is the earliest front of those queues, and expiring
    costs O(expired). An owner is any address aligned to KindCount; the kind
    (0 to KindCount - 1) goes into its low bits. Kinds never share a queue,
    so one kind's way of choosing times (a grid of ticks) cannot hold back
    another's entries.

    The few entries whose deadlines do not follow the clock (a server's next
    reaping in a thread, the deadline of whichever client is idle longest)
    are scheduled at their deadline instead, in O(log n).
*/
class DeadlineSet
{
public:
    using TimePoint = std::chrono::steady_clock::time_point;
    using Owner = std::uintptr_t;
    static constexpr int KindCount = 8;

    //! An entry that expired: whose, and which.
    struct Due
    {
        Owner owner;
        int kind;
    };

    //! (Re)schedules \a kind of \a owner to expire \a timeout after \a from; returns that deadline.
    TimePoint schedule(Owner owner, int kind, std::chrono::milliseconds timeout, TimePoint from)
    {
        m_queues[{timeout.count(), kind}].touch(owner | Owner(kind), from);
        return TimeoutQueue<Owner>::deadline(from, timeout);
    }

    //! Drops \a kind of \a owner, scheduled with \a timeout.
    void cancel(Owner owner, int kind, std::chrono::milliseconds timeout)
    {
        const auto queue = m_queues.find({timeout.count(), kind});
        if (queue != m_queues.end())
            queue->second.remove(owner | Owner(kind));
    }

    //! (Re)schedules \a kind of \a owner to expire at \a deadline, whatever the others' times.
    void scheduleAt(Owner owner, int kind, TimePoint deadline)
    {
        cancelAt(owner, kind);
        const Owner key = owner | Owner(kind);
        m_at.emplace(key, deadline);
        m_atOrder.emplace(deadline, key);
    }

    //! Drops \a kind of \a owner, scheduled with scheduleAt().
    void cancelAt(Owner owner, int kind)
    {
        const auto found = m_at.find(owner | Owner(kind));
        if (found == m_at.end())
            return;
        m_atOrder.erase({found->second, found->first});
        m_at.erase(found);
    }

    //! Drops every entry of \a owner.
    void cancelAll(Owner owner)
    {
        for (auto &[id, queue] : m_queues)
            queue.remove(owner | Owner(id.second));
        for (int kind = 0; kind < KindCount && !m_at.empty(); ++kind)
            cancelAt(owner, kind);
    }

    //! The earliest deadline; nothing when no entry is left (empty queues are dropped).
    std::optional<TimePoint> next()
    {
        std::optional<TimePoint> earliest;
        if (!m_atOrder.empty())
            earliest = m_atOrder.begin()->first;
        for (auto it = m_queues.begin(); it != m_queues.end();) {
            if (it->second.isEmpty()) {
                it = m_queues.erase(it);
                continue;
            }
            const TimePoint deadline =
                    it->second.nextExpiry(std::chrono::milliseconds(it->first.first));
            if (!earliest || deadline < *earliest)
                earliest = deadline;
            ++it;
        }
        return earliest;
    }

    //! Removes and returns every entry due at \a now, each queue's oldest first.
    std::vector<Due> takeDue(TimePoint now)
    {
        std::vector<Due> due;
        const auto take = [&due](Owner key) {
            due.push_back({key & ~Owner(KindCount - 1), int(key & Owner(KindCount - 1))});
        };
        for (auto &[id, queue] : m_queues)
            queue.expire(now, std::chrono::milliseconds(id.first), take);
        while (!m_atOrder.empty() && m_atOrder.begin()->first <= now) {
            const Owner key = m_atOrder.begin()->second;
            m_atOrder.erase(m_atOrder.begin());
            m_at.erase(key);
            take(key);
        }
        return due;
    }

private:
    //! (timeout in ms, kind) → the entries of that kind with that timeout.
    std::map<std::pair<std::chrono::milliseconds::rep, int>, TimeoutQueue<Owner>> m_queues;
    std::map<Owner, TimePoint> m_at;                 //!< scheduleAt()'s entries
    std::set<std::pair<TimePoint, Owner>> m_atOrder; //!< the same, by deadline
};
