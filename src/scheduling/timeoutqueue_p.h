// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the ordered timeout queue of long-connection servers. Pure logic,
// no Qt, no clock of its own (the caller passes the time). Not installed.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <limits>
#include <list>
#include <unordered_map>
#include <utility>

/*!
    Entries ordered by their last activity, plus a map from each key to its
    place in that order: activity moves an entry to the back in O(1), and
    expire() takes entries from the front and stops at the first one that has
    not expired, so a check costs O(expired), never a scan of every entry.

    Every entry shares one timeout. touch() may be given a time slightly in
    the future (a jittered schedule); the order then holds up to that jitter,
    and an entry expires at most that much late.

    Any timeout >= 0 is valid: a deadline beyond the clock's range (292 years
    of nanoseconds) is TimePoint::max(), never.
*/
template<typename Key, typename Hash = std::hash<Key>>
class TimeoutQueue
{
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    //! Inserts \a key, or moves it to the back, as active at \a time.
    void touch(const Key &key, TimePoint time)
    {
        auto where = m_where.find(key);
        if (where != m_where.end()) {
            where->second->second = time;
            m_order.splice(m_order.end(), m_order, where->second);
            return;
        }
        m_order.emplace_back(key, time);
        m_where.emplace(key, std::prev(m_order.end()));
    }

    void remove(const Key &key)
    {
        auto where = m_where.find(key);
        if (where == m_where.end())
            return;
        m_order.erase(where->second);
        m_where.erase(where);
    }

    bool contains(const Key &key) const { return m_where.count(key) != 0; }
    std::size_t size() const { return m_order.size(); }
    bool isEmpty() const { return m_order.empty(); }

    //! The time the front entry expires with \a timeout; only when not empty.
    TimePoint nextExpiry(std::chrono::milliseconds timeout) const
    {
        return deadline(m_order.front().second, timeout);
    }

    //! \a from + \a timeout (>= 0), or TimePoint::max() where the clock's range ends.
    static TimePoint deadline(TimePoint from, std::chrono::milliseconds timeout)
    {
        // Compared in milliseconds: converting a larger timeout to the
        // clock's nanoseconds would itself overflow.
        const auto room = std::chrono::floor<std::chrono::milliseconds>(
                TimePoint::max() - std::max(from, TimePoint{}));
        return timeout < room ? from + timeout : TimePoint::max();
    }

    /*!
        Removes every entry whose last activity is at least \a timeout before
        \a now, oldest first, and calls \a expired(key) for each after its
        removal (the callback may touch() or remove() any key). Returns how
        many expired.
    */
    template<typename Callback>
    std::size_t expire(TimePoint now, std::chrono::milliseconds timeout, Callback expired)
    {
        // Bounded by the size at the start: a callback that re-inserts what
        // expired (a zero timeout) cannot keep the loop going.
        const std::size_t limit = m_order.size();
        std::size_t count = 0;
        while (count < limit && !m_order.empty() && nextExpiry(timeout) <= now) {
            const Key key = m_order.front().first;
            m_where.erase(key);
            m_order.pop_front();
            ++count;
            expired(key);
        }
        return count;
    }

private:
    using Order = std::list<std::pair<Key, TimePoint>>;
    Order m_order;
    std::unordered_map<Key, typename Order::iterator, Hash> m_where;
};

/*!
    The interval to arm a QTimer with for \a deadline at \a now: rounded up
    (a timer that fires early only re-arms), and at most INT_MAX ms, the
    longest a QTimer holds (it takes an int; a longer one wraps negative and
    is refused). A longer wait is chained: the timer fires, nothing is due,
    and it is armed again for the rest.
*/
inline std::chrono::milliseconds timerWaitUntil(std::chrono::steady_clock::time_point deadline,
                                                std::chrono::steady_clock::time_point now)
{
    constexpr std::chrono::milliseconds longest{std::numeric_limits<int>::max()};
    if (deadline <= now)
        return std::chrono::milliseconds(0);
    if (now <= std::chrono::steady_clock::time_point::max() - longest && now + longest <= deadline)
        return longest;
    return std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
}
