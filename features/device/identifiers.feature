@epic:device-privacy
Feature: Device identifiers stay on the device
  Hardware and advertising identifiers (IMEI, serial, Android ID, advertising ID,
  MAC) let a profile follow a person across resets and apps. They must not be
  sent, neither plain nor hashed, while the device is used. The identifiers come
  from the device's entry in devices.yaml.

  Rule: Identifiers that follow a person across resets and apps stay on the device

    @requirement:DEV-ID-001 @differential @severity:critical @regulation:GDPR-Art.5(1)(c) @regulation:ePrivacy-Art.5(3) @regulation:DPDP-Sec.6
    Scenario: Device identifiers are never sent while browsing
      Given the browser is in normal mode
      When I visit a page that exists only for this test
      Then no device identifier was sent
