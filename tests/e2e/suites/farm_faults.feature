Feature: One device's fault stays with that device
  Scenario: Browsing while the whole farm is up
    Given the browser is in normal mode
    When I visit a page that exists only for this test
    Then no other host received the visited URL

  Scenario: The Appium server of farm-a stops
    Given the browser is in normal mode
    When the Appium server of "farm-a" stops

  Scenario: The browser session of farm-b ends
    Given the browser is in normal mode
    When the browser session of "farm-b" ends

  Scenario: Browsing after the fault
    Given the browser is in normal mode
    When I visit a page that exists only for this test
    Then no other host received the visited URL

  Scenario: Searching after the fault
    Given the browser is in incognito mode
    When I search "https://search.example.com/" for a term that exists only for this test
    Then no third party received the search term
