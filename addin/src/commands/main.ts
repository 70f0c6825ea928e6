// The launch-event handler of the add-in (OnMessageSend); filled by the add-in issue.
export {};
