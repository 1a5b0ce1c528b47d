@android @epic:device-privacy
Feature: The phone's own apps keep what the user does on the phone
  In the reported case the firmware's apps reported app usage: folders opened in
  the file manager, screens swiped on the launcher, and pages browsed in the
  system browser even with its incognito toggle on. These requirements drive the
  phone's own apps through UiAutomator2 and need an Android device; on any other
  device they are reported as skipped, with the reason.

  Rule: What a user does in the phone's own apps stays on the phone

    @requirement:AND-FM-001 @severity:critical @regulation:GDPR-Art.5(1)(c) @regulation:ePrivacy-Art.5(3)
    Scenario: Opening a folder in the file manager sends no folder name
      Given the file manager is open
      When I create and open a folder whose name exists only for this test
      Then no other host received the folder name

    @requirement:AND-LN-001 @severity:normal @regulation:GDPR-Art.5(1)(c)
    Scenario: Swiping launcher screens sends no usage events with user content
      Given the launcher is on its home screen
      When I swipe to the next screen and back
      Then no request carries the names of the apps on screen

    @requirement:AND-BR-001 @severity:critical @regulation:GDPR-Art.5(1)(c) @regulation:ePrivacy-Art.5(3)
    Scenario: The system browser's incognito toggle sends no URLs
      Given the system browser is in incognito mode by its own toggle
      When I visit a page that exists only for this test
      Then no other host received the visited URL

    @requirement:AND-APP-001 @severity:critical @regulation:GDPR-Art.5(1)(c) @regulation:ePrivacy-Art.5(3)
    Scenario: No installed-app list leaves the device
      Given the launcher is on its home screen
      When the device idles for the soak
      Then no request carries the list of installed apps
