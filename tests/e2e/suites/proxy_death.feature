Feature: The capture proxy dies during a scenario
  A scenario whose traffic could not be fully observed must be broken, never passed.

  Scenario: The proxy is killed after the visit
    Given the browser is in incognito mode
    When I visit a page that exists only for this test
    And the capture proxy is killed
    Then no other host received the visited URL

  Scenario: The next scenario runs on a restarted proxy
    Given the browser is in incognito mode
    When I visit a page that exists only for this test
    Then no other host received the visited URL
