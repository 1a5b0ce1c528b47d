Feature: The cost of a differential scenario
  The same actions and the same check, plain and differential, each run several times.

  @requirement:BENCH-PLAIN
  Scenario Outline: Plain visit <n>
    Given the browser is in incognito mode
    When I visit a page that exists only for this test
    Then no other host received the visited URL

    Examples:
      | n |
      | 1 |
      | 2 |
      | 3 |

  @requirement:BENCH-DIFF @differential
  Scenario Outline: Differential visit <n>
    Given the browser is in incognito mode
    When I visit a page that exists only for this test
    Then no other host received the visited URL

    Examples:
      | n |
      | 1 |
      | 2 |
      | 3 |
