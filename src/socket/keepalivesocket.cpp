// Copyright (c) qt-keepalive contributors. SPDX-License-Identifier: MIT
#include "keepalivesocket.h"

#include "keepaliveengine_p.h"
#include "keepalivesslsocket.h"

#include <QtCore/QEvent>

// Everything happens in KeepAliveEngine; this class forwards its signals and
// gives it the hooks only a QAbstractSocket subclass has.

KeepAliveSocket::KeepAliveSocket(QObject *parent)
    : QTcpSocket(parent),
      d(std::make_unique<KeepAliveEngine>(this, KeepAliveEngine::socketSignalsOf<KeepAliveSocket>))
{
}

KeepAliveSocket::~KeepAliveSocket()
{
    // ~QAbstractSocket() still disconnects and emits disconnected(); the engine (d,
    // destroyed right after this body) must not react once this part of the
    // object is gone.
}

bool KeepAliveSocket::event(QEvent *event)
{
    d->socketEvent(event);
    return QTcpSocket::event(event);
}

bool KeepAliveSocket::setKeepAliveOptions(const KeepAliveOptions &options)
{
    return d->setOptions(options);
}

KeepAliveOptions KeepAliveSocket::keepAliveOptions() const
{
    return d->options();
}

EffectiveKeepAliveOptions KeepAliveSocket::effectiveKeepAliveOptions() const
{
    return d->effectiveOptions();
}

KeepAliveSocket::KeepAliveError KeepAliveSocket::keepAliveError() const
{
    return d->error();
}

QString KeepAliveSocket::keepAliveErrorString() const
{
    return d->errorString();
}

KeepAliveSocket::DeadPeerReason KeepAliveSocket::deadPeerReason() const
{
    return d->deadPeerReason();
}

ConnectionHealth KeepAliveSocket::connectionHealth() const
{
    return d->health();
}

bool KeepAliveSocket::setSocketDescriptor(qintptr socketDescriptor, SocketState state,
                                          OpenMode openMode)
{
    d->adopting();
    const bool accepted = QTcpSocket::setSocketDescriptor(socketDescriptor, state, openMode);
    d->adopted(socketDescriptor, accepted);
    return accepted;
}

bool KeepAliveSocket::flush()
{
    return d->flush([this] { return QTcpSocket::flush(); });
}

bool KeepAliveSocket::waitForReadyRead(int msecs)
{
    return d->waitForReadyRead(msecs,
                               [this](int left) { return QTcpSocket::waitForReadyRead(left); });
}

bool KeepAliveSocket::waitForBytesWritten(int msecs)
{
    return d->waitForBytesWritten(
            msecs, [this](int left) { return QTcpSocket::waitForBytesWritten(left); });
}

bool KeepAliveSocket::waitForDisconnected(int msecs)
{
    return d->waitForDisconnected(
            msecs, [this](int left) { return QTcpSocket::waitForDisconnected(left); });
}

qint64 KeepAliveSocket::readData(char *data, qint64 maxSize)
{
    return d->readData([&] { return QTcpSocket::readData(data, maxSize); });
}

qint64 KeepAliveSocket::writeData(const char *data, qint64 size)
{
    return d->writeData([&] { return QTcpSocket::writeData(data, size); });
}

KeepAliveEngine *KeepAliveEngine::of(QAbstractSocket *socket)
{
    return of(static_cast<QObject *>(socket));
}

KeepAliveEngine *KeepAliveEngine::find(QObject *object)
{
    // Asked for the owner of every socket notification in the process (the
    // shared hook): the exact classes first, Qt's own answered at once;
    // subclasses (and a server's engine's owner) below.
    const QMetaObject *type = object->metaObject();
    if (type == &KeepAliveSocket::staticMetaObject)
        return static_cast<KeepAliveSocket *>(object)->d.get();
    if (type == &QTcpSocket::staticMetaObject)
        return nullptr;
#if QT_CONFIG(ssl)
    if (type == &KeepAliveSslSocket::staticMetaObject)
        return static_cast<KeepAliveSslSocket *>(object)->d.get();
    if (type == &QSslSocket::staticMetaObject)
        return nullptr;
#endif
    if (auto *plain = qobject_cast<KeepAliveSocket *>(object))
        return plain->d.get();
#if QT_CONFIG(ssl)
    if (auto *secure = qobject_cast<KeepAliveSslSocket *>(object))
        return secure->d.get();
#endif
    return nullptr;
}

KeepAliveEngine *KeepAliveEngine::of(QObject *object)
{
    return find(object);
}

NotifierInspector *NotifierInspector::of(QObject *socket)
{
    // The shared hook's one call per notification.
    KeepAliveEngine *engine = KeepAliveEngine::find(socket);
    return engine ? &engine->m_inspector : nullptr;
}

// The private slots call the engine: compiled where it is complete.
#include "moc_keepalivesocket.cpp"
