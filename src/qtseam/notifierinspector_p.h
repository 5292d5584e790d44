// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#pragma once

// Internal: the look at the kernel before Qt's read consumes a pending
// socket error. Not installed.

#include "deathclassification_p.h"
#include "heapoptional_p.h"
#include "nativetransport_p.h"

#include <QtCore/QObject>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>

QT_BEGIN_NAMESPACE
    class QTimer;
QT_END_NAMESPACE

class StallGuard;
class NotifierInspectorHost;

/*!
    Qt's read of a failed socket closes the descriptor before errorOccurred()
    is emitted, so the kernel's view (TCP_INFO) has to be taken earlier. The
    inspector filters the notifications of the connection's own engine (and
    no other object's) and looks at the kernel (one poll(), and only when it
    shows a pending error, the evidence) where a death can hide:

    \list
    \li on the first read notification after a quiet gap (quietGap()): a
        keepalive or retransmission death always follows a silence of at
        least idle + interval or the user timeout. In the middle of a stream
        only a reset can arrive, and the failing read's own errno tells it:
        the error is cleared before Qt reads (no system call), see
        wentUnlooked();
    \li on the first write notification after a quiet gap, and on every one
        where Qt's read path would not meet the error first (closing, read
        notifier off, a read buffer limit);
    \li on every notification of an Unbuffered socket, or where the thread's
        last error does not survive Qt's read (Windows).
    \endlist

    It also makes sure that Qt's read path, which keeps received bytes, is
    the one that meets the error, and keeps looking while Qt has stopped
    reading (full read buffer, or Unbuffered with unread data).

    Testing switch: with the environment variable
    \c QTKEEPALIVE_TESTING_NO_READ_LOOK=1 (read once per process) read
    notifications never look, so that every fault test runs the errno path.
*/
/*!
    Runs Qt's read path on \a socket once, as a read notification would:
    Qt's own blocking read (QAbstractSocket::waitForReadyRead(), not a
    subclass's reimplementation) with nothing to wait for. Only when the
    kernel has something to read or an error pending: with nothing, the
    read would time out and report that.
*/
void runQtReadPath(QAbstractSocket *socket);

class NotifierInspector
{
public:
    //! What the inspector tells its owner (the engine).
    class Listener
    {
    public:
        //! A read notification of the connection (data, an end or an error arrived).
        virtual void readNotified() = 0;
        /*!
            Qt is about to write to the connection (a write notification with
            no death pending) at \a nowNs (coarseNowNs()): what
            bytesWritten() would tell after it.
        */
        virtual void writeNotified(qint64 nowNs) = 0;
        //! Unbuffered: a death was found; the owner takes the error from \a descriptor.
        virtual void unbufferedDeathFound(qintptr descriptor) = 0;
        //! The connection's slow-reader guard (what it knows goes into the evidence).
        virtual const StallGuard &stallGuard() const = 0;

    protected:
        ~Listener() = default;
    };

    /*!
        No QObject of its own, one per connection adds up: a helper object
        (a child of \a socket, created on first need) is the event filter on
        Qt's socket engine and its notifiers where the shared hook cannot
        serve (see sharedHookInstalled()), passing their events to filter(),
        and the parent of the pause timer.
    */
    NotifierInspector(const SocketTransport *site, Listener *listener);
    ~NotifierInspector();
    Q_DISABLE_COPY_MOVE(NotifierInspector)

    /*!
        Hooks the transport engine's notifiers (again for every connection):
        a library socket's own connection through the shared hook, which
        also sees the notifiers Qt creates later; any other by event filters.
        Qt creates a notifier on first use (the write notifier at the first
        write of an accepted connection): with \a writesReported, the socket
        calls writeNotifierMayExist() after each of its writes and nothing
        else is needed; otherwise the engine's ChildAdded hooks later ones,
        at the cost of a filter registration (Qt's extra object data) on the
        engine too.
    */
    void attach(bool writesReported);
    //! After the socket's own write: hooks the write notifier Qt may just have created.
    void writeNotifierMayExist()
    {
        if (!m_writerHooked)
            hookWriteNotifier();
    }
    //! Forgets everything about the connection that ended; restores the read buffer limit.
    void reset();
    //! How often to look while Qt does not read.
    void setWatchTick(std::chrono::milliseconds tick)
    {
        m_watchTickMs = qint32(std::clamp<qint64>(tick.count(), 1, 1000));
    }
    //! Silence after which the next notification looks (half the shortest death, at most 1 s).
    void setQuietGap(std::chrono::milliseconds gap);
    std::chrono::milliseconds quietGap() const
    {
        return std::chrono::milliseconds(m_quietGapNs / 1000000);
    }
    /*!
        The shortest silence after which keepalive can declare a death (its
        whole probe sequence, KeepAliveOptions::idleDetectionBound()); nothing:
        keepalive is off. Tells a timeout death whose platform counts no
        unacknowledged data (Wine) by the last write: one sooner after it is
        the retransmissions'.
    */
    void setKeepAliveSilence(std::optional<std::chrono::milliseconds> silence);
    //! Qt writes (or has written) to the kernel at \a nowNs (coarseNowNs()).
    void noteWrite(qint64 nowNs) { m_lastWrittenNs = nowNs; }

    /*!
        True when Qt's last read or write on a notification ran without a
        look, with the thread's last error cleared just before it: a failure
        it met is told by lastError() alone.
    */
    bool wentUnlooked() const { return m_unlooked; }
    //! The testing switch (see the class description).
    static bool readLookDisabled();

    bool hasEvidence() const { return bool(m_evidence); }
    std::optional<DeathEvidence> takeEvidence();
    void captureEvidence(qintptr descriptor);

    /*!
        If the kernel holds a pending error, reports it now through Qt's read
        path (buffered) or Listener::unbufferedDeathFound() (Unbuffered) and
        returns true.
        Returns false, with the evidence taken, where Qt cannot be made to
        read now (no notifier, and closing or behind a proxy): the caller's
        own call into Qt then meets the error.
    */
    bool reportPendingError();
    /*!
        Public-API-only mode (no engine to filter): Qt announced data; keeps
        looking while Qt does not read (a full read buffer, or Unbuffered
        data the application has not read).
    */
    void readyReadWithoutEngine();
    /*!
        Makes Qt's read path meet a pending error: enables \a reader (may be
        null without the engine) or lifts a full read buffer's limit, which
        returns at the connection's end.
    */
    void letQtReadTheError(QSocketNotifier *reader);
    /*!
        Lifts the socket's read buffer limit (setReadBufferSize()) until the
        connection ends, so that Qt reads all the kernel holds; false where
        there is none to lift (or the socket does not own the connection).
    */
    bool liftReadLimit();
    /*!
        Checks, at the first readyRead() of a connection that Qt's event
        loop delivered, that a read notification of it passed the filter
        (QtInternals::Assumption::SockActDelivery); if not, the library
        switches to the public-API-only mode.
    */
    void verifyReadActivation() const;
    //! Unbuffered: the application read; Qt reads on notifications again.
    void applicationRead() { m_unreadNotified = false; }

    //! The event filter of the objects attach() hooked: true to stop \a event.
    bool filter(QObject *watched, QEvent *event);

    /*!
        The inspector of \a socket's own connection if \a socket is one of
        the library's socket classes, nullptr otherwise. Defined with the
        engine, which owns the inspectors.
    */
    static NotifierInspector *of(QObject *socket);
    /*!
        True where the process-wide notification hook is in place: Qt's
        event notification callback (QInternal::EventNotifyCallback), which
        every event sent in any thread passes before its receiver's event
        filters. It hands each SockAct and SockClose of a notifier of a
        library socket's own engine to that socket's inspector, so that
        these connections need no event filter on their notifiers (each
        filter gives a notifier Qt's extra object data).
    */
    static bool sharedHookInstalled();
    /*!
        True if attach() chose the shared hook and it has seen a socket
        notification in this thread: Qt's notifications reach the
        inspectors here.
    */
    bool sharedHookDeliversHere() const;
    //! attach() chose the shared hook for this connection (no event filter on its notifiers).
    bool usesSharedHook() const { return m_sharedHook; }
    /*!
        The shared hook's call for a SockAct or SockClose of \a notifier:
        filter() if attach() chose the hook for this connection.
    */
    bool hookedEvent(QObject *notifier)
    {
        return m_sharedHook && transport().ownsNotifier(notifier)
                && inspect(static_cast<QSocketNotifier *>(notifier));
    }

private:
    bool inspect(QSocketNotifier *notifier);
    //! inspect() where a look is due: out of the way of the common case.
    Q_NEVER_INLINE bool look(QSocketNotifier *notifier, bool read, qint64 now);
    void hookWriteNotifier();
    //! \a now: coarseNowNs() (0 where m_alwaysLook).
    Q_ALWAYS_INLINE bool lookDue(bool read, qint64 now);
    bool isUnbuffered() const;
    bool qtWillStopReading() const;
    void watchPause();
    void startPauseWatch();
    //! reportPendingError() where Qt created no notifier; false if Qt cannot read now.
    bool readWithoutNotifier();
    //! The helper object (see the constructor), created on first call.
    NotifierInspectorHost *host();
    //! The pause timer, if the pause watch ever ran.
    QTimer *pauseTimer() const;

    QAbstractSocket *socket() const { return m_site->socket; }
    const NativeTransport &transport() const { return m_site->transport; }

    const SocketTransport *const m_site;
    Listener *const m_listener;
    //! See host(); also holds the pause timer and a lifted read buffer limit.
    std::unique_ptr<NotifierInspectorHost> m_host;
    HeapOptional<DeathEvidence> m_evidence; //!< set once the kernel shows a pending error
    qint64 m_lastReadNs = 0;                //!< coarse monotonic time of the last read notification
    qint64 m_lastWriteNs = 0;               //!< and of the last write notification
    qint64 m_lastWrittenNs = 0;             //!< and of the last noteWrite(); 0: none yet
    /*!
        The engine's read notifier, from attach() (or once looked up): read
        through only on a write notification of the same engine (Qt deletes
        both notifiers only as it closes the engine), forgotten at the
        connection's end.
    */
    const QSocketNotifier *m_reader = nullptr;
    qint32 m_watchTickMs = 1000;      //!< 1 to 1000 (setWatchTick())
    qint32 m_quietGapNs = 1000000000; //!< at most 1 s (setQuietGap())
    qint32 m_keepAliveSilenceMs = -1; //!< see setKeepAliveSilence(); -1: keepalive off
    bool m_unlooked = false;
    bool m_alwaysLook = false;       //!< Unbuffered, or errno does not survive Qt's read
    bool m_readLookDisabled = false; //!< the testing switch
    bool m_unreadNotified = false;   //!< Unbuffered: Qt announced data the application has not read
    bool m_sawReadActivation = false; //!< see verifyReadActivation()
    bool m_writerHooked = true;       //!< false: writeNotifierMayExist() looks for it
    bool m_sharedHook = false;        //!< attach() chose the shared hook (sharedHookInstalled())
};
