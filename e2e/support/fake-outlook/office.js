/*
 * A fake Outlook compose host for browser tests, served in place of Microsoft's office.js.
 *
 * Configure it before the page loads with page.addInitScript, by setting window.__fakeOutlook to any of:
 *   host ('Outlook', or null for "not in an Office host"), displayLanguage, userProfile { emailAddress, displayName },
 *   requirementSets [{ name, version }], accessToken (string) or accessTokenError { code, message },
 *   failInternetHeaders (setAsync/getAsync/removeAsync fail as in an Outlook that cannot set headers),
 *   item { subject, to, cc, bcc, internetHeaders }.
 * The item (subject, recipients, headers) is kept in sessionStorage, so a reload of the pane in the same
 * page finds the draft as it was: that is how "reopening the pane" is tested. Tests read
 * window.__fakeOutlook.item.internetHeaders, and change recipients with window.__fakeOutlook.setRecipients,
 * which fires the RecipientsChanged handlers like Outlook does.
 */
(function () {
  'use strict';
  var STORAGE_KEY = 'fake-outlook-item';
  var configured = window.__fakeOutlook || {};

  function defaults() {
    return {
      host: 'Outlook',
      platform: 'OfficeOnline',
      displayLanguage: 'en-US',
      userProfile: { emailAddress: 'alice@acme.test', displayName: 'Alice' },
      requirementSets: [
        { name: 'Mailbox', version: '1.13' },
        { name: 'IdentityAPI', version: '1.3' },
      ],
      accessToken: undefined,
      accessTokenError: undefined,
      failInternetHeaders: false,
      item: { subject: '', to: [], cc: [], bcc: [], internetHeaders: {} },
      calls: [],
    };
  }

  var state = defaults();
  for (var key in configured) if (Object.prototype.hasOwnProperty.call(configured, key)) state[key] = configured[key];
  state.item = Object.assign({ subject: '', to: [], cc: [], bcc: [], internetHeaders: {} }, configured.item || {});
  try {
    var saved = window.sessionStorage.getItem(STORAGE_KEY);
    if (saved) state.item = JSON.parse(saved);
  } catch (e) {
    /* no storage: state lives for this load only */
  }
  state.calls = [];
  var handlers = {};

  function persist() {
    try {
      window.sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state.item));
    } catch (e) {
      /* ignore */
    }
  }

  var AsyncResultStatus = { Succeeded: 'succeeded', Failed: 'failed' };
  var EventType = {
    RecipientsChanged: 'olkRecipientsChanged',
    AttachmentsChanged: 'olkAttachmentsChanged',
    ItemChanged: 'olkItemSelectedChanged',
  };

  function later(fn) {
    setTimeout(fn, 0);
  }

  /** Office's calling convention: (args..., [options], [callback]); the result arrives asynchronously. */
  function respond(args, outcome) {
    var callback = null;
    var options = null;
    for (var i = args.length - 1; i >= 0; i--) {
      if (typeof args[i] === 'function') {
        callback = args[i];
        if (i > 0 && args[i - 1] && typeof args[i - 1] === 'object' && !Array.isArray(args[i - 1])) options = args[i - 1];
        break;
      }
    }
    var result = {
      status: outcome.error ? AsyncResultStatus.Failed : AsyncResultStatus.Succeeded,
      value: outcome.error ? undefined : outcome.value,
      error: outcome.error ? { name: outcome.error.name, message: outcome.error.message, code: outcome.error.code } : undefined,
      asyncContext: options ? options.asyncContext : undefined,
      diagnostics: undefined,
    };
    if (callback) later(function () { callback(result); });
  }

  function record(name, detail) {
    state.calls.push({ name: name, detail: detail });
  }

  function normaliseRecipient(r) {
    if (typeof r === 'string') return { emailAddress: r, displayName: r, recipientType: 'other' };
    return { emailAddress: r.emailAddress, displayName: r.displayName || r.emailAddress, recipientType: r.recipientType || 'other' };
  }

  function fire(eventType, event) {
    var list = handlers[eventType] || [];
    for (var i = 0; i < list.length; i++) {
      (function (handler) {
        later(function () { handler(event); });
      })(list[i]);
    }
  }

  function recipientsField(field) {
    return {
      getAsync: function () {
        record(field + '.getAsync');
        respond(arguments, { value: state.item[field].map(normaliseRecipient) });
      },
      setAsync: function (recipients) {
        record(field + '.setAsync', recipients);
        state.item[field] = recipients.map(normaliseRecipient);
        persist();
        respond(arguments, { value: undefined });
        changed(field);
      },
      addAsync: function (recipients) {
        record(field + '.addAsync', recipients);
        state.item[field] = state.item[field].concat(recipients.map(normaliseRecipient));
        persist();
        respond(arguments, { value: undefined });
        changed(field);
      },
    };
  }

  function changed(field) {
    var fields = { to: false, cc: false, bcc: false };
    fields[field] = true;
    fire(EventType.RecipientsChanged, { type: EventType.RecipientsChanged, changedRecipientFields: fields });
  }

  var headersUnavailable = { name: 'InternetHeadersNotSupported', message: 'This Outlook cannot set internet headers.', code: 9041 };

  function findHeader(name) {
    var wanted = String(name).toLowerCase();
    for (var existing in state.item.internetHeaders) if (existing.toLowerCase() === wanted) return existing;
    return undefined;
  }

  var item = {
    itemType: 'message',
    to: recipientsField('to'),
    cc: recipientsField('cc'),
    bcc: recipientsField('bcc'),
    subject: {
      getAsync: function () {
        record('subject.getAsync');
        respond(arguments, { value: state.item.subject });
      },
      setAsync: function (subject) {
        record('subject.setAsync', subject);
        state.item.subject = String(subject);
        persist();
        respond(arguments, { value: undefined });
      },
    },
    internetHeaders: {
      getAsync: function (names) {
        record('internetHeaders.getAsync', names);
        if (state.failInternetHeaders) return respond(arguments, { error: headersUnavailable });
        var value = {};
        for (var i = 0; i < names.length; i++) {
          var found = findHeader(names[i]);
          if (found !== undefined) value[names[i]] = state.item.internetHeaders[found];
        }
        respond(arguments, { value: value });
      },
      setAsync: function (headers) {
        record('internetHeaders.setAsync', headers);
        if (state.failInternetHeaders) return respond(arguments, { error: headersUnavailable });
        for (var name in headers) {
          var existing = findHeader(name);
          if (existing !== undefined) delete state.item.internetHeaders[existing];
          state.item.internetHeaders[name] = String(headers[name]);
        }
        persist();
        respond(arguments, { value: undefined });
      },
      removeAsync: function (names) {
        record('internetHeaders.removeAsync', names);
        if (state.failInternetHeaders) return respond(arguments, { error: headersUnavailable });
        for (var i = 0; i < names.length; i++) {
          var existing = findHeader(names[i]);
          if (existing !== undefined) delete state.item.internetHeaders[existing];
        }
        persist();
        respond(arguments, { value: undefined });
      },
    },
    addHandlerAsync: function (eventType, handler) {
      record('addHandlerAsync', eventType);
      if (!isSetSupported('Mailbox', '1.7')) {
        return respond(Array.prototype.slice.call(arguments, 2), { error: { name: 'APINotSupported', message: 'Events need Mailbox 1.7.', code: 5000 } });
      }
      (handlers[eventType] = handlers[eventType] || []).push(handler);
      respond(Array.prototype.slice.call(arguments, 2), { value: undefined });
    },
    removeHandlerAsync: function (eventType) {
      record('removeHandlerAsync', eventType);
      delete handlers[eventType];
      respond(Array.prototype.slice.call(arguments, 1), { value: undefined });
    },
  };

  function compareVersions(a, b) {
    var x = String(a).split('.');
    var y = String(b).split('.');
    for (var i = 0; i < Math.max(x.length, y.length); i++) {
      var d = (Number(x[i]) || 0) - (Number(y[i]) || 0);
      if (d !== 0) return d;
    }
    return 0;
  }

  function isSetSupported(name, version) {
    for (var i = 0; i < state.requirementSets.length; i++) {
      var set = state.requirementSets[i];
      if (String(set.name).toLowerCase() === String(name).toLowerCase()) {
        return version === undefined || compareVersions(set.version, version) >= 0;
      }
    }
    return false;
  }

  var hostInfo = { host: state.host, platform: state.host ? state.platform : null };
  var readyPromise = new Promise(function (resolve) {
    // Like office.js, ready comes after the page's own scripts had a chance to register.
    setTimeout(function () { resolve(hostInfo); }, 0);
  });

  var Office = {
    AsyncResultStatus: AsyncResultStatus,
    EventType: EventType,
    HostType: { Outlook: 'Outlook', Word: 'Word', Excel: 'Excel', PowerPoint: 'PowerPoint' },
    PlatformType: { OfficeOnline: 'OfficeOnline', PC: 'PC', Mac: 'Mac' },
    initialize: undefined,
    onReady: function (callback) {
      return readyPromise.then(function (info) {
        if (typeof callback === 'function') callback(info);
        return info;
      });
    },
    context: {
      displayLanguage: state.displayLanguage,
      contentLanguage: state.displayLanguage,
      requirements: { isSetSupported: isSetSupported },
      mailbox: state.host
        ? {
            item: item,
            userProfile: state.userProfile,
            diagnostics: { hostName: 'OutlookWebApp', hostVersion: '16.0' },
          }
        : undefined,
    },
    auth: {
      getAccessToken: function (options) {
        record('auth.getAccessToken', options);
        if (state.accessTokenError) return Promise.reject(state.accessTokenError);
        if (!state.accessToken) return Promise.reject({ code: 13001, name: 'SSO', message: 'The user is not signed in to Office.' });
        return Promise.resolve(state.accessToken);
      },
    },
  };

  readyPromise.then(function () {
    if (typeof Office.initialize === 'function') Office.initialize(state.host ? 'taskpane' : undefined);
  });

  /** Test helper: replace a recipient field ('to', 'cc', 'bcc') and fire RecipientsChanged. */
  state.setRecipients = function (field, addresses) {
    state.item[field] = addresses.map(normaliseRecipient);
    persist();
    changed(field);
  };
  /** Test helper: forget the draft kept for reloads. */
  state.reset = function () {
    window.sessionStorage.removeItem(STORAGE_KEY);
  };
  state.isSetSupported = isSetSupported;

  window.__fakeOutlook = state;
  window.Office = Office;
})();
