@epic:device-privacy
Feature: An idle device keeps to itself
  Measurements of Android handsets left idle (Leith, "Mobile Handset Privacy", 2021)
  found them contacting their makers every few minutes, carrying hardware identifiers
  and lists of installed apps, with no user action at all. An idle soak leaves the
  device alone for a while with the capture running: on the embedded device, the
  browser open on its start page with no action. Its length is `telltale run --idle
  SECONDS` (a short one in CI, hours for a release); a passed verdict means nothing
  was seen within it, and the report says how long that was.

  Rule: A device left alone sends nothing personal, and no more than its budget

    @requirement:IDLE-ID-001 @differential @severity:critical @regulation:GDPR-Art.5(1)(c) @regulation:ePrivacy-Art.5(3)
    Scenario: An idle device sends no hardware identifier
      Given the browser is in normal mode
      When the device idles for the soak
      Then no device identifier was sent

    @requirement:IDLE-DST-001 @severity:normal @regulation:GDPR-Art.5(1)(b) @regulation:ePrivacy-Art.5(3)
    Scenario: An idle device contacts only allowlisted hosts
      Given the browser is in normal mode
      When the device idles for the soak
      Then no traffic goes to hosts outside the allowlist

    @requirement:IDLE-BUD-001 @severity:normal @regulation:GDPR-Art.5(1)(c)
    Scenario: An idle device stays within its data budget per destination
      Given the browser is in normal mode
      When the device idles for the soak
      Then no destination received more than its data budget
