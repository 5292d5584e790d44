// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "keepalivesslsocket.h"

#if QT_CONFIG(ssl)

#  include "keepaliveengine_p.h"

#  include <QtCore/QEvent>

// As KeepAliveSocket: everything happens in KeepAliveEngine, which finds the
// TCP connection inside the QSslSocket. Only the truncated close is TLS's own.

KeepAliveSslSocket::KeepAliveSslSocket(QObject *parent)
    : QSslSocket(parent),
      d(std::make_unique<KeepAliveEngine>(this,
                                          KeepAliveEngine::socketSignalsOf<KeepAliveSslSocket>))
{
    // After the engine's own handler: a reset is a dead peer, never a truncated close.
    connect(this, &QAbstractSocket::errorOccurred, this, &KeepAliveSslSocket::onErrorOccurred);
}

KeepAliveSslSocket::~KeepAliveSslSocket()
{
    // ~QSslSocket() still disconnects and emits disconnected(); the engine (d,
    // destroyed right after this body) must not react once this part of the
    // object is gone.
}

bool KeepAliveSslSocket::event(QEvent *event)
{
    d->socketEvent(event);
    return QSslSocket::event(event);
}

bool KeepAliveSslSocket::setKeepAliveOptions(const KeepAliveOptions &options)
{
    return d->setOptions(options);
}

KeepAliveOptions KeepAliveSslSocket::keepAliveOptions() const
{
    return d->options();
}

EffectiveKeepAliveOptions KeepAliveSslSocket::effectiveKeepAliveOptions() const
{
    return d->effectiveOptions();
}

KeepAliveSslSocket::KeepAliveError KeepAliveSslSocket::keepAliveError() const
{
    return d->error();
}

QString KeepAliveSslSocket::keepAliveErrorString() const
{
    return d->errorString();
}

KeepAliveSslSocket::DeadPeerReason KeepAliveSslSocket::deadPeerReason() const
{
    return d->deadPeerReason();
}

ConnectionHealth KeepAliveSslSocket::connectionHealth() const
{
    return d->health();
}

bool KeepAliveSslSocket::isCloseTruncated() const
{
    return m_closeTruncated;
}

bool KeepAliveSslSocket::flush()
{
    return d->flush([this] { return QSslSocket::flush(); });
}

bool KeepAliveSslSocket::waitForReadyRead(int msecs)
{
    return d->waitForReadyRead(msecs,
                               [this](int left) { return QSslSocket::waitForReadyRead(left); });
}

bool KeepAliveSslSocket::waitForBytesWritten(int msecs)
{
    return d->waitForBytesWritten(
            msecs, [this](int left) { return QSslSocket::waitForBytesWritten(left); });
}

bool KeepAliveSslSocket::waitForDisconnected(int msecs)
{
    return d->waitForDisconnected(
            msecs, [this](int left) { return QSslSocket::waitForDisconnected(left); });
}

void KeepAliveSslSocket::connectToHost(const QString &hostName, quint16 port, OpenMode openMode,
                                       NetworkLayerProtocol protocol)
{
    m_closeNotifyReceived = false;
    m_closeTruncated = false;
    QSslSocket::connectToHost(hostName, port, openMode & ~Unbuffered, protocol);
}

bool KeepAliveSslSocket::setSocketDescriptor(qintptr socketDescriptor, SocketState state,
                                             OpenMode openMode)
{
    m_closeNotifyReceived = false;
    m_closeTruncated = false;
    d->adopting();
    const bool accepted =
            QSslSocket::setSocketDescriptor(socketDescriptor, state, openMode & ~Unbuffered);
    d->adopted(socketDescriptor, accepted);
    return accepted;
}

qint64 KeepAliveSslSocket::writeData(const char *data, qint64 size)
{
    return d->writeData([&] { return QSslSocket::writeData(data, size); });
}

void KeepAliveSslSocket::onErrorOccurred(SocketError error)
{
    // A close_notify is reported while the TCP connection is still open; the
    // FIN behind it (or one without it) as the TCP connection's own error.
    if (error != RemoteHostClosedError || m_closeNotifyReceived || m_closeTruncated
        || d->deadPeerReason() != DeadPeerReason::None)
        return;
    const QAbstractSocket *transport = d->transportSocket();
    if (!transport || transport == this)
        return; // the public-API-only mode: the two closes look the same
    if (transport->error() != RemoteHostClosedError) {
        m_closeNotifyReceived = true;
        return;
    }
    m_closeTruncated = true;
    Q_EMIT closeTruncated();
}

// The private slots call the engine: compiled where it is complete.
#  include "moc_keepalivesslsocket.cpp"

#endif // QT_CONFIG(ssl)
