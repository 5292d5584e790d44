// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the ordered timeout queue of long-connection servers. Pure logic,
// no Qt, no clock of its own (the caller passes the time). Not installed.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <limits>
#include <unordered_map>
#include <utility>

/*!
    The place of an entry in an IntrusiveTimeoutQueue, carried by the entry
    itself (a base class): queuing allocates nothing. An entry is in at most
    one queue at a time.
*/
class TimeoutQueueLink
{
public:
    using TimePoint = std::chrono::steady_clock::time_point;

    //! The time of the entry's last activity; only while it is queued.
    TimePoint activeAt() const { return m_activeAt; }

private:
    template<typename>
    friend class IntrusiveTimeoutQueue;

    TimeoutQueueLink *m_older = nullptr;
    TimeoutQueueLink *m_newer = nullptr;
    TimePoint m_activeAt{};
};

/*!
    Entries ordered by their last activity: activity moves an entry to the
    back in O(1), and expire() takes entries from the front and stops at the
    first one that has not expired, so a check costs O(expired), never a
    scan of every entry. The entries (of a class derived from
    TimeoutQueueLink) carry their own links; the queue owns none of them.

    Every entry shares one timeout. touch() may be given a time slightly in
    the future (a jittered schedule); the order then holds up to that jitter,
    and an entry expires at most that much late.

    Any timeout >= 0 is valid: a deadline beyond the clock's range (292 years
    of nanoseconds) is TimePoint::max(), never.
*/
template<typename Entry>
class IntrusiveTimeoutQueue
{
public:
    using TimePoint = TimeoutQueueLink::TimePoint;

    IntrusiveTimeoutQueue() = default;
    IntrusiveTimeoutQueue(const IntrusiveTimeoutQueue &) = delete;
    IntrusiveTimeoutQueue &operator=(const IntrusiveTimeoutQueue &) = delete;
    //! Leaves the entries unlinked.
    ~IntrusiveTimeoutQueue() { clear(); }

    //! Inserts \a entry, or moves it to the back, as active at \a time.
    void touch(Entry *entry, TimePoint time)
    {
        TimeoutQueueLink *link = entry;
        remove(entry);
        link->m_activeAt = time;
        link->m_older = m_back;
        (m_back ? m_back->m_newer : m_front) = link;
        m_back = link;
        ++m_size;
    }

    void remove(Entry *entry)
    {
        TimeoutQueueLink *link = entry;
        if (!contains(entry))
            return;
        (link->m_older ? link->m_older->m_newer : m_front) = link->m_newer;
        (link->m_newer ? link->m_newer->m_older : m_back) = link->m_older;
        link->m_older = link->m_newer = nullptr;
        --m_size;
    }

    //! Whether \a entry is queued (here: an entry is in one queue at most).
    bool contains(const Entry *entry) const
    {
        const TimeoutQueueLink *link = entry;
        return link->m_older || link->m_newer || m_front == link;
    }
    std::size_t size() const { return m_size; }
    bool isEmpty() const { return m_size == 0; }

    //! The least recently active entry; only when not empty.
    Entry *front() const { return static_cast<Entry *>(m_front); }
    //! Every entry, least recently active first; \a visit must not change the queue.
    template<typename Visit>
    void forEach(Visit visit) const
    {
        for (TimeoutQueueLink *link = m_front; link; link = link->m_newer)
            visit(static_cast<Entry *>(link));
    }
    //! Unlinks every entry.
    void clear()
    {
        while (m_front)
            remove(front());
    }

    //! The time the front entry expires with \a timeout; only when not empty.
    TimePoint nextExpiry(std::chrono::milliseconds timeout) const
    {
        return deadline(m_front->m_activeAt, timeout);
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
        \a now, oldest first, and calls \a expired(entry) for each after its
        removal (the callback may touch() or remove() any entry). Returns how
        many expired.
    */
    template<typename Callback>
    std::size_t expire(TimePoint now, std::chrono::milliseconds timeout, Callback expired)
    {
        // Bounded by the size at the start: a callback that re-inserts what
        // expired (a zero timeout) cannot keep the loop going.
        const std::size_t limit = m_size;
        std::size_t count = 0;
        while (count < limit && m_front && nextExpiry(timeout) <= now) {
            Entry *entry = front();
            remove(entry);
            ++count;
            expired(entry);
        }
        return count;
    }

private:
    TimeoutQueueLink *m_front = nullptr; //!< the least recently active
    TimeoutQueueLink *m_back = nullptr;  //!< the most recently active
    std::size_t m_size = 0;
};

/*!
    An IntrusiveTimeoutQueue of keys (values, not objects of their own): one
    node per key, held in a map from the key.
*/
template<typename Key, typename Hash = std::hash<Key>>
class TimeoutQueue
{
public:
    using TimePoint = TimeoutQueueLink::TimePoint;

    TimeoutQueue() = default;
    TimeoutQueue(const TimeoutQueue &) = delete;
    TimeoutQueue &operator=(const TimeoutQueue &) = delete;

    //! Inserts \a key, or moves it to the back, as active at \a time.
    void touch(const Key &key, TimePoint time)
    {
        // A node-based map: a node keeps its address while others come and go.
        Node &node = m_nodes.try_emplace(key, key).first->second;
        m_order.touch(&node, time);
    }

    void remove(const Key &key)
    {
        const auto found = m_nodes.find(key);
        if (found == m_nodes.end())
            return;
        m_order.remove(&found->second);
        m_nodes.erase(found);
    }

    bool contains(const Key &key) const { return m_nodes.count(key) != 0; }
    std::size_t size() const { return m_order.size(); }
    bool isEmpty() const { return m_order.isEmpty(); }

    //! The time the front entry expires with \a timeout; only when not empty.
    TimePoint nextExpiry(std::chrono::milliseconds timeout) const
    {
        return m_order.nextExpiry(timeout);
    }

    //! \a from + \a timeout (>= 0), or TimePoint::max() where the clock's range ends.
    static TimePoint deadline(TimePoint from, std::chrono::milliseconds timeout)
    {
        return IntrusiveTimeoutQueue<Node>::deadline(from, timeout);
    }

    //! As IntrusiveTimeoutQueue::expire(), calling \a expired(key).
    template<typename Callback>
    std::size_t expire(TimePoint now, std::chrono::milliseconds timeout, Callback expired)
    {
        return m_order.expire(now, timeout, [this, &expired](Node *node) {
            const Key key = node->key;
            m_nodes.erase(key);
            expired(key);
        });
    }

private:
    struct Node : TimeoutQueueLink
    {
        explicit Node(const Key &k) : key(k) { }
        Key key;
    };
    std::unordered_map<Key, Node, Hash> m_nodes;
    IntrusiveTimeoutQueue<Node> m_order; //!< destroyed first: it unlinks nodes still there
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
