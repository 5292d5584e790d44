// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "notifierinspector_p.h"

#include "coarseclock_p.h"
#include "keepaliveplatform_p.h"
#include "qterrors_p.h"
#include "qtinternals_p.h"
#include "stallguard_p.h"

#include <QtCore/QAbstractEventDispatcher>

#include <QtCore/QChildEvent>
#include <QtCore/QCoreApplication>
#include <QtCore/QPointer>
#include <QtCore/QTimer>

#include <algorithm>
#include <chrono>
#include <limits>
#include <utility>

namespace {

// Set on every socket notification: in a shared library a thread_local
// costs a call to __tls_get_addr per access unless the library's own
// (static) TLS block holds it. One byte of it is safe also for a library
// that is loaded later (glibc keeps room for that).
#if defined(__ELF__) && (defined(Q_CC_GNU) || defined(Q_CC_CLANG))
#  define QTKEEPALIVE_STATIC_TLS __attribute__((tls_model("initial-exec")))
#else
#  define QTKEEPALIVE_STATIC_TLS
#endif

//! The shared hook has seen a socket notification in this thread.
thread_local bool g_deliveredHere QTKEEPALIVE_STATIC_TLS = false;

// A connection's notifiers are children of its socket engine, itself a
// child of the socket (QAbstractSocketPrivate::initSocketLayer()).
bool notifierEvent(void **data)
{
    auto *event = static_cast<QEvent *>(data[1]);
    if (event->type() != QEvent::SockAct && event->type() != QEvent::SockClose)
        return false;
    // Any socket notification (a server's accept notifier too) shows that
    // Qt's notifications pass the hook in this thread; attach() checks that
    // a connection's notifiers are where the hook looks for them.
    g_deliveredHere = true;
    auto *notifier = static_cast<QObject *>(data[0]);
    const QObject *engine = notifier->parent();
    QObject *owner = engine ? engine->parent() : nullptr;
    NotifierInspector *inspector = owner ? NotifierInspector::of(owner) : nullptr;
    if (!inspector || !inspector->hookedEvent(notifier))
        return false;
    *static_cast<bool *>(data[2]) = true; // what QCoreApplication::sendEvent() returns
    return true;
}

bool g_sharedHook = false;

// Registered while the library is loaded, before the application's threads
// send events (Qt's callback table is not guarded against concurrent
// change), and removed as it is unloaded. Every event sent in the process
// then costs one call and a type comparison.
void installSharedHook()
{
    g_sharedHook = QInternal::registerCallback(QInternal::EventNotifyCallback, notifierEvent);
}
void removeSharedHook()
{
    if (std::exchange(g_sharedHook, false))
        QInternal::unregisterCallback(QInternal::EventNotifyCallback, notifierEvent);
}
Q_CONSTRUCTOR_FUNCTION(installSharedHook)
Q_DESTRUCTOR_FUNCTION(removeSharedHook)

} // namespace

bool NotifierInspector::sharedHookInstalled()
{
    return g_sharedHook;
}

bool NotifierInspector::sharedHookDeliversHere() const
{
    return m_sharedHook && g_deliveredHere;
}

/*!
    NotifierInspector::host(): the event filter, the pause timer's parent,
    and what only a few connections ever need.
*/
class NotifierInspectorHost final : public QObject
{
public:
    NotifierInspectorHost(QObject *parent, NotifierInspector *inspector)
        : QObject(parent),
          m_inspector(inspector)
    {
    }

    bool eventFilter(QObject *watched, QEvent *event) override
    {
        return m_inspector->filter(watched, event);
    }

    QTimer *pauseTimer = nullptr;              //!< a child; runs while Qt does not read
    std::optional<qint64> savedReadBufferSize; //!< lifted so that Qt reads the error

private:
    NotifierInspector *const m_inspector;
};

NotifierInspector::NotifierInspector(const SocketTransport *site, Listener *listener)
    : m_site(site),
      m_listener(listener)
{
}

NotifierInspector::~NotifierInspector() = default;

QTimer *NotifierInspector::pauseTimer() const
{
    return m_host ? m_host->pauseTimer : nullptr;
}

NotifierInspectorHost *NotifierInspector::host()
{
    // A child of the socket: it follows it to another thread, as the
    // notifiers it filters do.
    if (!m_host)
        m_host = std::make_unique<NotifierInspectorHost>(socket(), this);
    return m_host.get();
}

void NotifierInspector::startPauseWatch()
{
    // No timer runs in a thread without an event dispatcher (a std::thread
    // using waitFor...()); the blocking waits see a death there themselves.
    if (!QAbstractEventDispatcher::instance())
        return;
    // Created on first use: most connections never see Qt stop reading.
    QTimer *&timer = host()->pauseTimer;
    if (!timer) {
        timer = new QTimer(host());
        timer->setTimerType(Qt::PreciseTimer);
        QObject::connect(timer, &QTimer::timeout, timer, [this] { watchPause(); });
    }
    if (!timer->isActive())
        timer->start(std::chrono::milliseconds(m_watchTickMs));
}

void NotifierInspector::attach(bool writesReported)
{
    // The open mode is fixed for the connection's life.
    m_alwaysLook = isUnbuffered() || !osErrorSurvivesQtRead();
    m_readLookDisabled = readLookDisabled();
    QObject *engine = transport().engine();
    if (!engine)
        return;
    m_sharedHook =
            sharedHookInstalled() && transport().socket() == socket() && of(socket()) == this;
    if (m_sharedHook) {
        m_writerHooked = true;
    } else {
        for (QObject *child : engine->children())
            child->installEventFilter(host());
        m_writerHooked = !writesReported || transport().notifier(QSocketNotifier::Write) != nullptr;
        if (!writesReported)
            engine->installEventFilter(host());
    }
    // Qt enables reading (creating the read notifier) before it announces a
    // connection or returns from setSocketDescriptor(); without an event
    // dispatcher it creates none.
    m_reader = transport().notifier(QSocketNotifier::Read);
    if (!m_reader && QAbstractEventDispatcher::instance(engine->thread())
        && transport().socket()->openMode().testFlag(QIODevice::ReadOnly))
        QtInternals::broken(QtInternals::Assumption::NotifierChildren,
                            QStringLiteral("no read QSocketNotifier among the children of %1")
                                    .arg(QLatin1String(engine->metaObject()->className())));
}

void NotifierInspector::hookWriteNotifier()
{
    // Created inside the write that just returned; its first activation
    // comes from the event loop, after this.
    if (QSocketNotifier *writer = transport().notifier(QSocketNotifier::Write)) {
        writer->installEventFilter(host());
        m_writerHooked = true;
    }
}

bool NotifierInspector::readLookDisabled()
{
    static const bool disabled =
            qEnvironmentVariableIntValue("QTKEEPALIVE_TESTING_NO_READ_LOOK") != 0;
    return disabled;
}

void NotifierInspector::setQuietGap(std::chrono::milliseconds gap)
{
    // The engine passes at most 1 s.
    m_quietGapNs = qint32(std::clamp<qint64>(gap.count(), 0, 1000) * 1000000);
}

void NotifierInspector::setKeepAliveSilence(std::optional<std::chrono::milliseconds> silence)
{
    // Longer than 24 days counts as 24 days: a write that recent is still
    // taken as unacknowledged at the death.
    constexpr qint64 MaxMs = std::numeric_limits<qint32>::max();
    m_keepAliveSilenceMs = silence ? qint32(std::min<qint64>(silence->count(), MaxMs)) : -1;
}

void NotifierInspector::reset()
{
    m_evidence.reset();
    m_lastWrittenNs = 0;
    m_unreadNotified = false;
    m_unlooked = false;
    m_reader = nullptr;
    m_sawReadActivation = false;
    m_writerHooked = true;
    m_sharedHook = false;
    m_lastReadNs = 0;
    m_lastWriteNs = 0;
    if (QTimer *timer = pauseTimer())
        timer->stop();
    if (m_host && m_host->savedReadBufferSize)
        socket()->setReadBufferSize(*std::exchange(m_host->savedReadBufferSize, std::nullopt));
}

std::optional<DeathEvidence> NotifierInspector::takeEvidence()
{
    return m_evidence.take();
}

void NotifierInspector::captureEvidence(qintptr descriptor)
{
    if (m_evidence)
        return;
    DeathEvidence evidence{KeepAlivePlatform::health(descriptor),
                           m_listener->stallGuard().isBridged(),
                           m_listener->stallGuard().isWatching() || hasQueuedWrites(socket())};
    evidence.keepAliveOff = m_keepAliveSilenceMs < 0;
    // Where the kernel counts no unacknowledged data (Wine: no SIO_TCP_INFO)
    // the guard's watch ends at its first tick. Keepalive probes only after
    // idle of silence once everything sent was acknowledged, and dies after
    // its whole probe sequence: a write more recent than that was still
    // unacknowledged at the death, a retransmission death.
    if (!evidence.health.unackedSegments && m_lastWrittenNs != 0
        && coarseNowNs() - m_lastWrittenNs < qint64(m_keepAliveSilenceMs) * 1000000)
        evidence.dataOutstanding = true;
    m_evidence = evidence;
}

bool NotifierInspector::isUnbuffered() const
{
    return socket()->openMode().testFlag(QIODevice::Unbuffered);
}

bool NotifierInspector::filter(QObject *watched, QEvent *event)
{
    // Every notification of the connection passes here; when no look is due
    // that costs a few loads, a coarse clock read and a thread-local store.
    // Only QSocketNotifiers receive SockAct, and SockClose: Qt's Windows
    // event dispatcher delivers FD_CLOSE (a FIN, a reset, a keepalive death)
    // to the read notifier as SockClose, and Qt reads the socket on it.
    if (event->type() == QEvent::SockAct || event->type() == QEvent::SockClose)
        return transport().ownsNotifier(watched)
                && inspect(static_cast<QSocketNotifier *>(watched));
    if (event->type() == QEvent::ChildAdded && watched == transport().engine())
        static_cast<QChildEvent *>(event)->child()->installEventFilter(host());
    return false;
}

bool NotifierInspector::lookDue(bool read, qint64 now)
{
    // Unbuffered, Qt reads only when the application does; and where the
    // failing read's error does not survive until errorOccurred() (Windows)
    // it cannot tell a reset. Both look every time.
    if (m_alwaysLook)
        return true;
    qint64 &last = read ? m_lastReadNs : m_lastWriteNs;
    const bool quiet = now - last >= m_quietGapNs;
    last = now;
    if (read)
        return quiet && !m_readLookDisabled;
    if (quiet)
        return true;
    // A busy sender: its write notifications come as the peer acknowledges,
    // so a timeout death follows a quiet gap here too. A reset in the middle
    // raises both notifiers; the read notifier, registered first and never
    // switched off, is dispatched first and Qt's read path (which keeps the
    // received bytes) meets it. Where that order is not sure, look.
    if (socket()->state() != QAbstractSocket::ConnectedState)
        return true;
    // (On the shared hook the connection is the socket's own.)
    const QAbstractSocket *owner = m_sharedHook ? socket() : transport().socket();
    if (!m_reader)
        m_reader = transport().notifier(QSocketNotifier::Read);
    const QSocketNotifier *reader = m_reader;
    return !owner || owner->readBufferSize() > 0 || !reader || !reader->isEnabled();
}

bool NotifierInspector::inspect(QSocketNotifier *notifier)
{
    // The read notifier is known from attach() on: a comparison of addresses.
    const bool read = m_reader ? notifier == m_reader : notifier->type() == QSocketNotifier::Read;
    if (read) {
        m_sawReadActivation = true;
        m_listener->readNotified();
    }
    // One clock read per notification: m_alwaysLook needs none.
    const qint64 now = m_alwaysLook ? 0 : coarseNowNs();
    if (lookDue(read, now))
        return look(notifier, read, now);
    if (!read)
        m_listener->writeNotified(now);
    else if (socket()->readBufferSize() > 0 && qtWillStopReading())
        startPauseWatch();
    // Whatever Qt's read or write now meets, its own errno tells
    // (ECONNRESET a reset, 0 an orderly end-of-file): a thread-local store,
    // no system call.
    KeepAlivePlatform::clearLastError();
    m_unlooked = true;
    return false;
}

bool NotifierInspector::look(QSocketNotifier *notifier, bool read, qint64 now)
{
    const auto state = socket()->state();
    // While connecting, a pending error is a failed connect: Qt's business.
    if (state != QAbstractSocket::ConnectedState && state != QAbstractSocket::ClosingState)
        return false;
    const qintptr descriptor = transport().descriptor();
    if (descriptor == -1)
        return false;
    if (!KeepAlivePlatform::hasPendingError(descriptor)) {
        if (read) {
            if (qtWillStopReading())
                startPauseWatch();
            m_unreadNotified = isUnbuffered();
        } else {
            m_listener->writeNotified(now ? now : coarseNowNs());
        }
        // The error may still come before Qt's read: the errno path again.
        KeepAlivePlatform::clearLastError();
        m_unlooked = true;
        return false;
    }
    m_unlooked = false;
    captureEvidence(descriptor);
    if (isUnbuffered()) {
        m_listener->unbufferedDeathFound(descriptor);
        return false;
    }
    if (!read) {
        // Qt's write path would consume the error and abort(), which drops the
        // bytes already received; the read path reports it instead.
        notifier->setEnabled(false);
        if (QSocketNotifier *reader = transport().notifier(QSocketNotifier::Read))
            letQtReadTheError(reader);
        return true;
    }
    // Cleared so that the read's own error tells a reset from an end-of-file.
    KeepAlivePlatform::clearLastError();
    return false;
}

bool NotifierInspector::qtWillStopReading() const
{
    // Only where the socket itself owns the engine: a proxied or encrypted
    // socket buffers in its inner socket, which always reads.
    if (transport().socket() != socket())
        return false;
    if (isUnbuffered())
        return m_unreadNotified;
    const qint64 limit = socket()->readBufferSize();
    return limit > 0 && socket()->bytesAvailable() >= limit;
}

void NotifierInspector::readyReadWithoutEngine()
{
    m_unreadNotified = isUnbuffered();
    if (qtWillStopReading())
        startPauseWatch();
}

void NotifierInspector::letQtReadTheError(QSocketNotifier *reader)
{
    // Qt stops reading in ClosingState and while the read buffer is full;
    // then nobody would ever read the error and the socket would hang.
    // Without the engine (public-API-only mode) only the limit can be lifted.
    if (reader && reader->isEnabled())
        return;
    // Lifting the limit makes Qt read (and keep) what the kernel still
    // holds, then the error.
    if (!liftReadLimit() && reader)
        reader->setEnabled(true);
}

bool NotifierInspector::liftReadLimit()
{
    if (socket()->state() != QAbstractSocket::ConnectedState || socket()->readBufferSize() == 0
        || transport().socket() != socket())
        return false;
    // The limit returns at the connection's end (reset()).
    if (!host()->savedReadBufferSize)
        host()->savedReadBufferSize = socket()->readBufferSize();
    socket()->setReadBufferSize(0);
    return true;
}

bool NotifierInspector::reportPendingError()
{
    const qintptr descriptor = transport().descriptor();
    if (descriptor == -1 || !KeepAlivePlatform::hasPendingError(descriptor))
        return false;
    captureEvidence(descriptor);
    if (isUnbuffered()) {
        m_listener->unbufferedDeathFound(descriptor);
        return true;
    }
    // Qt's write path (flush(), waitForBytesWritten()) would meet the error
    // first and abort(), dropping what the peer sent before it. Its read path
    // keeps those bytes and reports the error; drive it now, as the event
    // loop would: each activation reads what is there, the last the error.
    // The socket owns the engine, which owns this inspector.
    const QPointer<QAbstractSocket> alive(socket());
    for (int round = 0; round < 64 && alive && transport().descriptor() != -1; ++round) {
        QSocketNotifier *reader = transport().notifier(QSocketNotifier::Read);
        letQtReadTheError(reader);
        if (reader) {
            QEvent activation(QEvent::SockAct);
            QCoreApplication::sendEvent(reader, &activation);
        } else if (!readWithoutNotifier()) {
            // Qt's own call meets the error then, with the evidence taken.
            return false;
        }
    }
    // Each activation reads all the kernel holds, the second at the latest
    // meets the error and closes the descriptor.
    if (alive && transport().descriptor() != -1 && transport().notifier(QSocketNotifier::Read))
        QtInternals::broken(QtInternals::Assumption::SyntheticSockAct,
                            QStringLiteral("Qt did not read after 64 activations of its read "
                                           "notifier with an error pending"));
    return true;
}

bool NotifierInspector::readWithoutNotifier()
{
    // Without an event dispatcher (a std::thread) Qt creates no notifiers,
    // and the public-API-only mode does not use them. A blocking read (Qt's
    // own, not a subclass's) with nothing to wait for, the error being
    // pending, runs the same read path (with nothing pending it would time out and report
    // that). Qt reads only while connected, and only the socket's own engine
    // is reached this way.
    QAbstractSocket *owner = transport().socket();
    if (owner != socket() || owner->state() != QAbstractSocket::ConnectedState
        || !KeepAlivePlatform::hasPendingError(transport().descriptor()))
        return false;
    KeepAlivePlatform::clearLastError();
    runQtReadPath(owner);
    return true;
}

void NotifierInspector::verifyReadActivation() const
{
    if (!m_sawReadActivation)
        QtInternals::broken(QtInternals::Assumption::SockActDelivery,
                            QStringLiteral("readyRead() came without a QEvent::SockAct on the "
                                           "engine's read notifier"));
}

void runQtReadPath(QAbstractSocket *socket)
{
    socket->QAbstractSocket::waitForReadyRead(0);
}

void NotifierInspector::watchPause()
{
    const qintptr descriptor = transport().descriptor();
    QSocketNotifier *reader = transport().notifier(QSocketNotifier::Read);
    const bool qtReads =
            transport().usesEngine() ? !reader || reader->isEnabled() : !qtWillStopReading();
    if (descriptor == -1 || qtReads) {
        pauseTimer()->stop(); // gone, or Qt reads again
        return;
    }
    if (!KeepAlivePlatform::hasPendingError(descriptor))
        return;
    pauseTimer()->stop();
    captureEvidence(descriptor);
    if (isUnbuffered())
        m_listener->unbufferedDeathFound(descriptor);
    else
        letQtReadTheError(reader);
}
